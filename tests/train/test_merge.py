"""Merging a LoRA version into its base model: the merged model computes what base + adapter
computed, is registered as a ``merged`` version loadable by name, and a failed or refused merge
leaves nothing behind."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")
pytest.importorskip("gguf")

from tests.tiny_models import build_tiny_qwen2  # noqa: E402

from finassist.config import Settings  # noqa: E402
from finassist.errors import InvalidInput, NotFound  # noqa: E402
from finassist.llm.hf import HFBackend  # noqa: E402
from finassist.llm.registry import get_backend  # noqa: E402
from finassist.llm.types import Message, MissingExtra  # noqa: E402
from finassist.llm.versions import ModelVersion, find_version, save_version  # noqa: E402
from finassist.train import merge as merge_module  # noqa: E402
from finassist.train.merge import merge_version  # noqa: E402

PROMPTS = ["华东汽车近12个月的现金流怎么样？", "反向保理是什么", "您好"]
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny Qwen2 base and a LoRA adapter on every linear layer that is not a no-op."""
    base, _ = build_tiny_qwen2(tmp_path_factory.mktemp("base"))
    model = transformers.AutoModelForCausalLM.from_pretrained(base)
    torch.manual_seed(1)
    lora = peft.LoraConfig(r=4, lora_alpha=8, target_modules=TARGETS, init_lora_weights=False)
    adapter = tmp_path_factory.mktemp("adapter")
    peft.get_peft_model(model, lora).save_pretrained(adapter)
    return base, adapter


@pytest.fixture
def home(tmp_path: Path, trained: tuple[Path, Path]) -> Path:
    base, adapter = trained
    save_version(
        tmp_path,
        ModelVersion(
            name="fin-v1",
            kind="sft",
            base_model=str(base),
            adapter=str(adapter),
            config={"lora": {"r": 4}},
            data=["train.jsonl"],
            data_hash="9f2c" * 16,
            metrics={"train_loss": 1.25},
        ),
    )
    return tmp_path


def logits(model: object, tokenizer: object) -> list[object]:
    with torch.no_grad():
        return [model(**tokenizer(p, return_tensors="pt")).logits for p in PROMPTS]


def test_merged_model_computes_what_base_plus_adapter_did(
    home: Path, trained: tuple[Path, Path]
) -> None:
    base, adapter = trained
    merged = merge_version(home, "fin-v1", dtype="float32")

    tokenizer = transformers.AutoTokenizer.from_pretrained(base)
    plain = transformers.AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    tuned = peft.PeftModel.from_pretrained(plain, adapter).eval()
    reloaded = transformers.AutoModelForCausalLM.from_pretrained(merged.path).eval()
    for expected, got in zip(logits(tuned, tokenizer), logits(reloaded, tokenizer), strict=True):
        assert torch.allclose(expected, got, atol=1e-5)
    with tuned.disable_adapter():  # the adapter mattered: without it the logits differ
        assert not torch.allclose(logits(tuned, tokenizer)[0], logits(reloaded, tokenizer)[0])

    stored = find_version(home, "fin-v1-merged")
    assert stored == merged
    assert (stored.kind, stored.parent, stored.adapter) == ("merged", "fin-v1", None)
    assert stored.path == str(home / "models" / "fin-v1-merged" / "merged")
    assert stored.data_hash == "9f2c" * 16 and stored.metrics == {"train_loss": 1.25}
    assert stored.config["lora"] == {"r": 4} and stored.config["merge"]["dtype"] == "float32"
    assert stored.exports == {"safetensors": stored.path}
    saved = transformers.AutoTokenizer.from_pretrained(stored.path)
    assert saved.chat_template == tokenizer.chat_template
    left = {p.name for p in Path(stored.path).parent.iterdir()}
    assert left == {"merged", "version.json"}  # no staging folder left behind

    backend = get_backend("fin-v1-merged", Settings(home=home))
    assert isinstance(backend, HFBackend) and backend.adapter is None
    backend.max_new_tokens = 4
    assert isinstance(backend.chat([Message.user("你好")]).content, str)


def test_merge_with_gguf_registers_the_export(home: Path) -> None:
    merged = merge_version(home, "fin-v1", name="fin-v1-q8", out=home / "export", gguf="q8_0")
    gguf_file = Path(merged.exports["gguf"])
    assert gguf_file == home / "export" / "fin-v1-q8-q8_0.gguf" and gguf_file.stat().st_size > 0
    assert merged.config["merge"] == {"dtype": "float16", "gguf": "q8_0", "quantize": None}
    weights = transformers.AutoModelForCausalLM.from_pretrained(merged.path)
    assert weights.dtype == torch.float16


def test_refused_merges_name_the_problem_and_write_nothing(home: Path) -> None:
    with pytest.raises(NotFound, match="没有名为 fin-v9 的模型版本。已有版本：fin-v1"):
        merge_version(home, "fin-v9")
    with pytest.raises(InvalidInput, match="CUDA"):
        merge_version(home, "fin-v1", quantize="8bit")
    with pytest.raises(InvalidInput, match="可选：8bit、4bit"):
        merge_version(home, "fin-v1", quantize="2bit")
    with pytest.raises(InvalidInput, match="可选：f32、f16、q8_0"):
        merge_version(home, "fin-v1", gguf="q4_k")
    with pytest.raises(InvalidInput, match="可选：float16、bfloat16、float32"):
        merge_version(home, "fin-v1", dtype="int8")
    assert not (home / "models" / "fin-v1-merged").exists()

    merge_version(home, "fin-v1", dtype="float32")
    with pytest.raises(InvalidInput, match="版本 fin-v1-merged 已存在"):
        merge_version(home, "fin-v1")
    with pytest.raises(InvalidInput, match="已经是完整模型"):
        merge_version(home, "fin-v1-merged")
    with pytest.raises(InvalidInput, match=r"输出目录 .* 已存在"):
        merge_version(home, "fin-v1", name="other", out=home / "models" / "fin-v1-merged")


def test_a_failed_merge_leaves_no_model_and_no_version(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> Path:
        raise OSError("磁盘已满")

    monkeypatch.setattr(merge_module, "export_gguf", broken)
    with pytest.raises(OSError, match="磁盘已满"):
        merge_version(home, "fin-v1", gguf="f16")
    assert find_version(home, "fin-v1-merged") is None
    assert not (home / "models" / "fin-v1-merged").exists()


def test_without_the_train_extra_the_error_says_what_to_install(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "peft", None)  # import peft now raises ImportError
    with pytest.raises(MissingExtra, match=r"pip install 'finassist\[train\]'"):
        merge_version(home, "fin-v1")
