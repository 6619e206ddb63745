"""The whole build: what a user finds in the output directory."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from finassist.config import Settings
from finassist.data.chatlog import write_sample_chatlog
from finassist.data.config import config_from_dict
from finassist.data.llm import model_backend
from finassist.data.pipeline import build_dataset
from finassist.errors import ConfigError, InvalidInput
from finassist.llm.scripted import ScriptedBackend
from finassist.llm.types import Message
from finassist.nlp.pii import find_pii
from finassist.store import Database


def read_jsonl(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory,
    chatlog: Path,
    knowledge_dir: Path,
    sample_db: Database,
) -> Path:
    out = tmp_path_factory.mktemp("dataset")
    config = config_from_dict(
        {"sources": {"knowledge": [str(knowledge_dir)]}, "augment": {"synonym_ratio": 0.2}}
    )
    build_dataset(config, [chatlog], out, db=sample_db)
    return out


def test_build_writes_every_format_the_report_and_dataset_info(built: Path) -> None:
    for fmt in ("sharegpt", "alpaca", "openai"):
        for split in ("train", "val", "test"):
            assert (built / fmt / f"{split}.jsonl").is_file()
    info = json.loads((built / "dataset_info.json").read_text(encoding="utf-8"))
    assert info["finassist_sharegpt_train"]["file_name"] == "sharegpt/train.jsonl"
    assert info["finassist_alpaca_val"]["columns"]["response"] == "output"
    html = (built / "report.html").read_text(encoding="utf-8")
    assert "data:image/svg+xml;base64," in html and "各阶段" in html
    assert not any(p.name.startswith((".staging", ".spool")) for p in built.iterdir())


def test_report_counts_every_stage_and_why(built: Path) -> None:
    report = json.loads((built / "report.json").read_text(encoding="utf-8"))
    stages = {s["name"]: s for s in report["stages"]}
    assert stages["read"]["in"] == 3000
    assert stages["filter"]["dropped"]  # images, stickers, recalled, forwarded ...
    assert stages["samples"]["out"] == stages["exact"]["in"]
    assert (
        stages["exact"]["out"] == stages["near"]["in"]
        and stages["near"]["out"] == stages["semantic"]["in"]
    )
    assert report["pii"]["手机号"] > 0 and report["pii"]["姓名"] > 0
    assert "未配置模型" in " ".join(report["notes"])
    mix = report["mix"]["actual"]
    assert mix["chat"] > 0 and mix["knowledge"] > 0 and mix["structured"] > 0
    assert mix["knowledge"] <= report["mix"]["wanted"]["knowledge"]
    assert sum(sum(v.values()) for v in report["splits"].values()) == report["total"]
    assert report["clusters"]["count"] >= 1


def test_no_conversation_is_split_across_train_val_test(built: Path) -> None:
    manifest = read_jsonl(built / "samples.jsonl")
    split_of: dict[str, set[str]] = {}
    for row in manifest:
        split_of.setdefault(row["group"], set()).add(row["split"])
    assert all(len(s) == 1 for s in split_of.values())
    assert {r["meta"].get("augmented") for r in manifest} >= {None, "synonym"}


def test_no_pii_is_left_in_chat_and_knowledge_samples(built: Path) -> None:
    manifest = read_jsonl(built / "samples.jsonl")
    for split in ("train", "val", "test"):
        kinds = [r["kind"] for r in manifest if r["split"] == split]
        for kind, record in zip(
            kinds, read_jsonl(built / "openai" / f"{split}.jsonl"), strict=True
        ):
            if kind == "structured":
                json.loads(record["messages"][-1]["content"])  # the tool's JSON, intact
                continue
            for message in record["messages"]:
                assert find_pii(message["content"]) == [], message["content"]


def test_formats_agree_and_alternate_roles(built: Path) -> None:
    sharegpt = read_jsonl(built / "sharegpt" / "val.jsonl")
    alpaca = read_jsonl(built / "alpaca" / "val.jsonl")
    for conv, alp in zip(sharegpt, alpaca, strict=True):
        roles = [t["from"] for t in conv["conversations"]]
        assert roles == ["human", "gpt"] * (len(roles) // 2)
        assert alp["output"] == conv["conversations"][-1]["value"]
        assert len(alp.get("history", [])) == len(roles) // 2 - 1


def test_build_is_deterministic_and_atomic(tmp_path: Path) -> None:
    chatlog = tmp_path / "small.csv"
    write_sample_chatlog(chatlog, messages=800, seed=3)
    config = config_from_dict({"sources": {"database": False}})
    first, second = tmp_path / "a", tmp_path / "b"
    build_dataset(config, [chatlog], first)
    build_dataset(config, [chatlog], second)
    assert (first / "sharegpt" / "train.jsonl").read_bytes() == (
        second / "sharegpt" / "train.jsonl"
    ).read_bytes()
    broken = replace(
        config, sources=replace(config.sources, knowledge=(str(tmp_path / "missing"),))
    )
    keep = tmp_path / "c"
    keep.mkdir()
    (keep / "mine.txt").write_text("x")
    with pytest.raises(InvalidInput, match="知识文档不存在"):
        build_dataset(broken, [chatlog], keep)
    assert [p.name for p in keep.iterdir()] == ["mine.txt"]


def test_llm_steps_run_through_a_configured_model(
    tmp_path: Path, chatlog: Path, knowledge_dir: Path
) -> None:
    def respond(messages: list[Message]) -> str:
        prompt = messages[-1].content
        if prompt.startswith("请为下面"):
            return "2" if "稍等" in prompt else "4"
        if prompt.startswith("请判断"):
            return "进度查询" if "进度" in prompt else "其他"
        if prompt.startswith("请在不改变"):
            return "（改写）" + prompt.split("\n", 1)[1]
        return "这条规定是怎么说的？"

    settings = Settings(home=tmp_path, models={"test-fake": {"backend": "scripted"}})
    fake = model_backend("test-fake", settings)
    assert isinstance(fake, ScriptedBackend)  # the recipe's name resolves through the registry
    fake.respond = respond
    config = config_from_dict(
        {
            "llm": {"backend": "test-fake"},
            "augment": {"paraphrase_ratio": 0.5},
            "sources": {"knowledge": [str(knowledge_dir)], "database": False},
            "dedup": {"semantic": {"enabled": False}},
        }
    )
    result = build_dataset(config, [chatlog], tmp_path / "out", backend=fake)
    stages = {s["name"]: s for s in result.report["stages"]}
    assert stages["llm"]["dropped"] == {"质量分低于 3": stages["llm"]["in"] - stages["llm"]["out"]}
    assert stages["llm"]["in"] > stages["llm"]["out"] > 0
    manifest = read_jsonl(tmp_path / "out" / "samples.jsonl")
    chat = [r for r in manifest if r["kind"] == "chat"]
    assert {r["meta"]["task"] for r in chat if "task" in r["meta"]} <= {"进度查询", "其他"}
    assert any(r["meta"].get("augmented") == "paraphrase" for r in chat)
    assert all(r["meta"]["question"] == "model" for r in manifest if r["kind"] == "knowledge")
    assert not any("未配置模型" in n for n in result.report["notes"])


def test_a_recipe_model_name_or_option_that_does_not_exist_is_named(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, models={"judge": {"backend": "scripted"}})
    with pytest.raises(ConfigError, match="未配置名为 judge2 的模型"):
        model_backend("judge2", settings)
    with pytest.raises(ConfigError, match="temperatrue"):
        model_backend("judge", settings, {"temperatrue": 0})
    assert model_backend("judge", settings, {"temperature": 0}).name == "judge"
