"""Which model answered each turn is stored, and a version's serving figures (turns,
conversations, ratings) come back the same on SQLite, PostgreSQL and MySQL; an A/B test is
decided on them (``finassist models show``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.cli_helpers import home_with_sample, run_cli
from tests.llm.test_ab import ab_backend

from finassist.assistant import Assistant
from finassist.assistant.session import SessionStore, model_usage
from finassist.nlp.intent import IntentRouter
from finassist.serve.keys import Principal
from finassist.serve.ratings import RatingStore
from finassist.store import Database


def test_usage_counts_turns_sessions_and_ratings_per_model(backend_url: str) -> None:
    db = Database(backend_url)
    db.migrate()
    store, rater = SessionStore(db), RatingStore(db)
    manager = Principal("k1", "M001")
    plan = {"fin-v1": [[5, 4], [3]], "fin-v2": [[2, None]]}  # per session, each turn's score
    for model, conversations in plan.items():
        for scores in conversations:
            session = store.create("M001")
            for seq, score in enumerate(scores, start=1):
                store.append(
                    session, user_text="问", reply_text="答", intent="chitchat", payload={},
                    model=model,
                )  # fmt: skip
                if score is not None:
                    rater.rate(manager, session.id, seq, score)
    offline = store.create("M001")
    store.append(offline, user_text="问", reply_text="答", intent="chitchat", payload={})

    v1, v2 = model_usage(db, "fin-v1"), model_usage(db, "fin-v2")
    assert (v1.turns, v1.sessions, v1.rated, v1.mean_score) == (3, 2, 3, pytest.approx(4.0))
    assert (v2.turns, v2.sessions, v2.rated, v2.mean_score) == (2, 1, 1, pytest.approx(2.0))
    assert v1.first is not None and v1.first <= v1.last
    unused = model_usage(db, "never")
    assert (unused.turns, unused.rated, unused.mean_score, unused.first) == (0, 0, None, None)
    db.dispose()


def test_ab_turns_record_their_variant_and_models_show_reports_it(
    tmp_path: Path, sample_db: Database
) -> None:
    (tmp_path / "home").mkdir()
    home = home_with_sample(tmp_path / "home", sample_db)
    db = Database(f"sqlite:///{home / 'finassist.db'}")
    ab = ab_backend(tmp_path, {"fin-v1": 0.5, "fin-v2": 0.5})
    bot = Assistant(db, router=IntentRouter.rules_only(), backend=ab)
    answered: dict[str, int] = {"fin-v1": 0, "fin-v2": 0}
    for _ in range(6):
        first = bot.ask("你好", manager_id="M001")
        bot.ask("谢谢", manager_id="M001", session_id=first.session_id)
        answered[first.meta["model"]] += 2
    assert {m: model_usage(db, m).turns for m in answered} == answered
    db.dispose()

    shown = run_cli(home, "models", "show", "fin-v1", "--json", **_config(tmp_path))
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["serving"]["turns"] == answered["fin-v1"]
    listed = run_cli(home, "models", "list", **_config(tmp_path))
    assert listed.returncode == 0, listed.stderr
    for turns in answered.values():  # 12 turns between them: at least one line to check
        assert not turns or f"{turns} 轮" in listed.stdout


def _config(tmp_path: Path) -> dict[str, str]:
    """A finassist.toml naming the two variants, as a team running the A/B test has."""
    path = tmp_path / "finassist.toml"
    path.write_text(
        '[finassist.models.fin-v1]\nbackend = "scripted"\n'
        '[finassist.models.fin-v2]\nbackend = "scripted"\n',
        encoding="utf-8",
    )
    return {"FINASSIST_CONFIG": str(path)}


def test_evaluation_questions_are_not_stored_as_conversations(
    tmp_path: Path, sample_db: Database
) -> None:
    """An eval run answers through the assistant but is not the bank's traffic: it must not
    add conversations, nor count as a version's usage."""
    from sqlalchemy import func, select

    from finassist.evaluate import Subject
    from finassist.store.schema import sessions, turns

    (tmp_path / "home").mkdir()
    home = home_with_sample(tmp_path / "home", sample_db)
    db = Database(f"sqlite:///{home / 'finassist.db'}")

    def counts() -> tuple[int, int]:
        with db.read() as conn:
            return tuple(  # type: ignore[return-value]
                conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (sessions, turns)
            )

    before = counts()
    bot = Assistant(db, router=IntentRouter.rules_only())
    text, evidence = Subject(assistant=bot).answer("华东汽车近12个月的现金流怎么样？")
    assert "华东汽车" in text and evidence
    assert counts() == before
    bot.ask("你好", manager_id="M001")  # a real conversation is still stored
    assert counts() == (before[0] + 1, before[1] + 1)
    db.dispose()
