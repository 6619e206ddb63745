"""Training fixtures: a tiny Qwen2 model, a memorisable set of Chinese conversations written in
the data pipeline's export layout, and fast training defaults.

The tiny model's token embeddings are re-drawn with a larger scale (std 0.1 instead of 0.02):
with tied embeddings the logits of a 64-wide model are otherwise too small for any adapter to
move the loss far in a few dozen steps.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

QA = [
    ("华东汽车近12个月的现金流怎么样？", "经营现金流为正。"),
    ("恒泰精密的应收发票还有多少没付？", "还有3张未付。"),
    ("什么是反向保理？", "核心企业确权后的融资。"),
    ("你好", "您好，请讲。"),
    ("星河电子的付款周期多久？", "一般90天。"),
    ("应收账款质押需要什么材料？", "营业执照和合同。"),
    ("保理融资的利率是多少？", "年化4%到6%。"),
    ("谢谢", "不客气。"),
]
SYSTEM = "你是供应链金融服务平台的客服。"


def conversation(i: int, *, system: bool = False) -> list[dict[str, str]]:
    """The i-th memorisable conversation in the OpenAI message layout."""
    q, a = QA[i]
    head = [{"role": "system", "content": SYSTEM}] if system else []
    return [*head, {"role": "user", "content": q}, {"role": "assistant", "content": a}]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    return path


@pytest.fixture(autouse=True)
def offline_single_thread(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No hub access, and one CPU thread: tiny matrices only lose time to thread hand-offs."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    try:
        import torch
    except ImportError:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny Qwen2 (hidden 64) whose tokenizer learned the conversations."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import torch
    import transformers
    from tests.tiny_models import build_tiny_qwen2

    path, _ = build_tiny_qwen2(
        tmp_path_factory.mktemp("tiny-qwen2"),
        corpus=[t for pair in QA for t in pair] + [SYSTEM],
        hidden_size=64,
    )
    model = transformers.AutoModelForCausalLM.from_pretrained(path)
    with torch.no_grad():
        model.get_input_embeddings().weight.normal_(
            0, 0.1, generator=torch.Generator().manual_seed(0)
        )
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def sft_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An export folder as ``finassist data build`` writes it: openai/{train,val}.jsonl."""
    root = tmp_path_factory.mktemp("export")
    write_jsonl(
        root / "openai" / "train.jsonl",
        [{"messages": conversation(i, system=i % 2 == 0)} for i in range(len(QA))],
    )
    write_jsonl(root / "openai" / "val.jsonl", [{"messages": conversation(i)} for i in (0, 3)])
    return root


@pytest.fixture
def fast(tiny_model: Path, sft_export: Path) -> dict[str, Any]:
    """Training settings for a run of a few seconds on the tiny model."""
    return {
        "model_path": str(tiny_model),
        "data": [str(sft_export)],
        "max_length": 128,
        "lora": {"r": 16, "alpha": 32, "dropout": 0.0},
        "learning_rate": 5e-3,
        "lr_scheduler": "constant",
        "warmup_ratio": 0.0,
        "batch_size": 2,
        "grad_accum": 1,
        "logging_steps": 1,
        "eval_steps": 1000,
        "save_steps": 1000,
        "gradient_checkpointing": False,
    }


def cli_env() -> dict[str, str]:
    """Environment for a CLI training subprocess: offline, one thread."""
    return {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
