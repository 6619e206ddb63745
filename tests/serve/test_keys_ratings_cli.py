"""API keys (stored hashed, revocable) and the ratings export, through the store and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from finassist.cli import app
from finassist.cli import app as cli_app
from finassist.errors import InvalidInput, NotFound
from finassist.serve.keys import ApiKeyStore, Principal
from finassist.serve.ratings import RatingStore, preference_pairs
from finassist.store import Database
from finassist.store.schema import api_keys


@pytest.fixture
def db(home: Path) -> Database:
    return Database(f"sqlite:///{home / 'finassist.db'}")


def test_keys_are_stored_hashed_and_bound(db: Database) -> None:
    store = ApiKeyStore(db)
    created = store.create("M002", label="网点终端")
    with db.read() as conn:
        row = conn.execute(select(api_keys)).one()
    assert created.key not in json.dumps([str(v) for v in row]) and row.salt and row.secret_hash
    assert store.verify(created.key) == Principal(created.id, "M002", is_admin=False)
    admin = store.create(admin=True)
    assert store.verify(admin.key) == Principal(admin.id, "A001", is_admin=True)
    assert store.verify("fa-" + created.id + ".wrong") is None
    store.revoke(created.id)
    assert store.verify(created.key) is None
    with pytest.raises(NotFound, match="没有可吊销"):
        store.revoke(created.id)
    with pytest.raises(NotFound, match="未知的客户经理"):
        store.create("M999")
    with pytest.raises(InvalidInput, match="不是管理员"):
        store.create("M001", admin=True)
    assert {k.id: k.revoked_at is not None for k in store.list()} == {
        created.id: True,
        admin.id: False,
    }


def test_keys_cli_create_list_revoke(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINASSIST_HOME", str(home))
    runner = CliRunner()
    created = runner.invoke(cli_app, ["keys", "create", "--manager", "M001", "--label", "测试"])
    assert created.exit_code == 0, created.output
    key = created.output.strip().splitlines()[-1]
    assert key.startswith("fa-")
    key_id = key.removeprefix("fa-").split(".")[0]
    listed = runner.invoke(cli_app, ["keys", "list"], env={"COLUMNS": "200"})
    assert key_id in listed.output and "有效" in listed.output and key not in listed.output
    assert runner.invoke(cli_app, ["keys", "revoke", key_id]).exit_code == 0
    assert "已吊销" in runner.invoke(cli_app, ["keys", "list"], env={"COLUMNS": "200"}).output
    missing = runner.invoke(cli_app, ["keys", "create"])
    assert missing.exit_code != 0 and isinstance(missing.exception, InvalidInput)


def test_export_ratings_as_eval_data_and_preference_pairs(
    home: Path, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from finassist.assistant import Assistant

    assistant = Assistant(db)
    ratings = RatingStore(db)
    me = Principal("k", "M001")
    good = assistant.ask("远航汽配的风险", manager_id="M001")
    bad = assistant.ask("远航汽配的风险", manager_id="M001")
    other = assistant.ask("恒泰精密的风险", manager_id="M001")
    ratings.rate(me, good.session_id, 1, 5, "准确")
    ratings.rate(me, bad.session_id, 1, 2, "太简略")
    ratings.rate(me, other.session_id, 1, 4)

    monkeypatch.setenv("FINASSIST_HOME", str(home))
    out, pairs = home / "out" / "ratings.jsonl", home / "out" / "pairs.jsonl"
    result = CliRunner().invoke(
        app, ["data", "export-ratings", "--output", str(out), "--pairs", str(pairs)]
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["score"] for r in records] == [5, 2, 4]
    assert (
        records[0]["question"] == "远航汽配的风险"
        and records[0]["answer"]
        and records[0]["evidence"] is not None
    )
    # Same answers to the same question make no pair; a different answer does.
    assert pairs.read_text(encoding="utf-8") == ""
    fake = [dict(records[0]), dict(records[1], answer="不知道。")]
    made = preference_pairs(fake)
    assert made == [
        {
            "prompt": "远航汽配的风险",
            "chosen": records[0]["answer"],
            "rejected": "不知道。",
            "chosen_score": 5,
            "rejected_score": 2,
            "intent": records[0]["intent"],
        }
    ]


def test_demo_key_is_reused_and_a_replaced_one_is_revoked(db: Database, tmp_path: Path) -> None:
    store = ApiKeyStore(db)
    keep = tmp_path / "demo-key"
    first = store.reuse_or_create("M001", label="demo", keep=keep)
    assert store.reuse_or_create("M001", label="demo", keep=keep) == first
    assert keep.stat().st_mode & 0o077 == 0  # only its owner can read the saved key
    keep.unlink()  # lost: a new key, and the old one no longer opens anything
    second = store.reuse_or_create("M001", label="demo", keep=keep)
    assert second != first and store.verify(first) is None
    assert store.verify(second) == Principal(second.split(".")[0][3:], "M001", is_admin=False)
