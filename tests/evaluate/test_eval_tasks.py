"""Each task kind on the offline models and on the scripted backend; bad task files."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from finassist.evaluate import (
    Subject,
    TaskFile,
    TaskFileError,
    load_task_file,
    run_tasks,
    task_kinds,
)
from finassist.evaluate.kinds import parse_choice, parse_score
from finassist.kb import KnowledgeBase
from finassist.llm.scripted import ScriptedBackend
from finassist.llm.types import Message

from .conftest import EVAL_DATA


def task(name: str) -> TaskFile:
    return load_task_file(EVAL_DATA / name)


def scripted(reply: Callable[[str], str]) -> ScriptedBackend:
    """A fake model that answers every prompt with ``reply(prompt_text)``."""
    fake = ScriptedBackend()
    fake.enqueue(*[lambda m: reply(m[-1].content)] * 50)
    return fake


def test_kinds_are_registered() -> None:
    assert {
        "multiple_choice",
        "classification",
        "ner",
        "retrieval",
        "generation",
        "judge",
        "groundedness",
    } <= set(task_kinds())


def test_multiple_choice_scripted_and_offline() -> None:
    answers = iter("BAD")
    result = run_tasks([task("mc.jsonl")], Subject("fake", scripted(lambda p: next(answers))))[0]
    assert result.metrics["accuracy"] == pytest.approx(2 / 3)
    offline = run_tasks([task("mc.jsonl")], Subject())[0]
    assert offline.metrics["answered"] == 0.0  # no model: nothing is guessed
    assert parse_choice("答案：B") == "B" and parse_choice("答案是 A、C") == "AC"
    assert parse_choice("我不知道") is None


def test_classification_offline_and_scripted() -> None:
    offline = run_tasks([task("intent.jsonl"), task("sentiment.jsonl")], Subject())
    assert offline[0].metrics["accuracy"] == 1.0  # labels given as names or Chinese labels
    assert 0.0 <= offline[1].metrics["macro_f1"] <= 1.0
    fake = scripted(lambda p: "消极")
    result = run_tasks([task("sentiment.jsonl")], Subject("fake", fake))[0]
    assert result.metrics["accuracy"] == pytest.approx(1 / 3)
    # one label right out of three labels: 消极 F1 = 2*(1/3*1)/(1/3+1) = 0.5, others 0
    assert result.metrics["macro_f1"] == pytest.approx(0.5 / 3)


def test_ner_offline_and_scripted() -> None:
    offline = run_tasks([task("ner.jsonl")], Subject())[0]
    assert offline.metrics["recall"] == 1.0
    fake = scripted(
        lambda p: '[{"text": "贵州茅台", "type": "stock"}, {"text": "1.5%", "type": "percent"}]'
    )
    result = run_tasks([task("ner.jsonl")], Subject("fake", fake))[0]
    # gold 6 entities; predicted 贵州茅台 (ok) in text 1, 1.5% (ok) in text 2; 贵州茅台 missing
    # from text 2 and 1.5% from text 1 are dropped: tp 2, fp 0, fn 4
    assert result.metrics["precision"] == 1.0
    assert result.metrics["recall"] == pytest.approx(2 / 6)


def test_retrieval_on_the_knowledge_base(eval_kb: KnowledgeBase) -> None:
    result = run_tasks([task("retrieval.jsonl")], Subject(kb=eval_kb))[0]
    assert result.metrics["recall@3"] == 1.0
    assert result.metrics["mrr"] == 1.0
    with pytest.raises(TaskFileError, match="知识库"):
        run_tasks([task("retrieval.jsonl")], Subject())


def test_generation_scripted_and_offline() -> None:
    refs = {
        "什么是保理？": "保理是卖方将应收账款转让给保理商，由保理商提供融资、催收和坏账担保等服务。",
        "流动比率怎么计算？": "流动比率等于流动资产除以流动负债。",
    }
    perfect = scripted(lambda p: refs[p])
    result = run_tasks([task("generation.jsonl")], Subject("fake", perfect))[0]
    assert result.metrics["rouge_l"] == 1.0
    assert result.metrics["bleu"] == pytest.approx(1.0)
    offline = run_tasks([task("generation.jsonl")], Subject(), limit=1)[0]
    assert offline.n == 1 and offline.metrics["rouge_l"] < 0.5


def test_judge_scores_both_orders() -> None:
    seen: list[str] = []

    def judge_reply(prompt: str) -> str:
        seen.append(prompt)
        # a position-biased judge: +2 when the candidate is shown first
        first_is_candidate = prompt.index("【待评回答】") < prompt.index("【参考答案】")
        return f"评分：{8 if first_is_candidate else 6}"

    subject = Subject(
        "fake", scripted(lambda p: "保理是应收账款转让融资。"), judge=scripted(judge_reply)
    )
    result = run_tasks([task("judge.jsonl")], subject)[0]
    assert len(seen) == 4
    assert result.metrics["mean_1_10"] == 7.0  # the bias cancels
    assert result.metrics["order_gap"] == 2.0
    assert result.metrics["score"] == pytest.approx(6 / 9)
    assert parse_score("评分：10") == 10 and parse_score("很好") is None
    with pytest.raises(TaskFileError, match="--judge"):
        run_tasks([task("judge.jsonl")], Subject())


def test_groundedness_counts_supported_claims() -> None:
    result = run_tasks([task("grounded.jsonl")], Subject())[0]
    # claims: 120万元 ✓, 5.00% ✓, 88万元 ✗ -> 2 / 3
    assert result.metrics["claims"] == 3
    assert result.metrics["grounded"] == pytest.approx(2 / 3)
    assert result.items[1]["unsupported"]


def test_groundedness_of_a_model_answer() -> None:
    fake = scripted(lambda p: "该企业本月回款 300 万元。")
    file = EVAL_DATA / "generation.jsonl"
    tf = load_task_file(file)
    tf.kind = "groundedness"
    result = run_tasks([tf], Subject("fake", fake))[0]
    assert result.metrics["grounded"] == 0.0  # no evidence cited: the figures are unsupported


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"text": "a", "label": "x"}\n{"text": "b", "label": \n', "第 2 行不是合法的 JSON"),
        (b'{"text": "a", "label": "x"}\n{"text": "b"}\n', "第 2 行缺少字段：label"),
        (
            '{"text": "好", "label": "积极"}\n{"text": "坏", "label": "消极"}\n'.encode("gbk"),
            "第 1 行不是 UTF-8 编码",
        ),
        (b'{"task": "nonsense"}\n{"x": 1}\n', "不存在"),
        (b"\n\n", "没有评测样例"),
        (b"[1, 2]\n", "第 1 行应为 JSON 对象"),
    ],
)
def test_bad_task_files_say_where(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(TaskFileError, match=re.escape(message)):
        load_task_file(path)


def test_scripted_backend_sees_the_question() -> None:
    fake = scripted(lambda p: "A")
    run_tasks([task("mc.jsonl")], Subject("fake", fake), limit=1)
    assert isinstance(fake.requests[0].messages[0], Message)
    assert "出质人" in fake.requests[0].messages[0].content
