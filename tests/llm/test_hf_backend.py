"""The hf backend on a tiny Qwen2-architecture model built here: real loading, adapter, generation.

The tokenizer is a byte-level BPE trained on the spot with Qwen2's pre-tokenisation rule, saved
as a Qwen2 tokenizer; reloading it must give the same ids (the regex is part of the contract).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

from tests.tiny_models import PLAIN_TEMPLATE, build_tiny_qwen2  # noqa: E402

from finassist.config import ModelConfig  # noqa: E402
from finassist.llm.hf import HFBackend, answer_prefix, parse_tool_calls  # noqa: E402
from finassist.llm.registry import create_backend  # noqa: E402
from finassist.llm.types import Message, MissingExtra, ModelNotFound, collect  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    return build_tiny_qwen2(tmp_path_factory.mktemp("tiny-qwen2"))


@pytest.fixture(scope="module")
def adapter(tiny, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path, _ = tiny
    base = transformers.AutoModelForCausalLM.from_pretrained(path)
    lora = peft.LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    torch.manual_seed(1)
    model = peft.get_peft_model(base, lora)
    out = tmp_path_factory.mktemp("lora")
    model.save_pretrained(out)
    return out


def test_tokenizer_ids_survive_a_reload(tiny) -> None:
    path, built = tiny
    reloaded = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    for text in ("华东汽车近12个月的现金流怎么样？", "It's 2026, 您好 tools"):
        assert reloaded(text)["input_ids"] == built(text)["input_ids"]
    assert reloaded.convert_tokens_to_ids("<|im_end|>") == built.eos_token_id


def test_chat_and_stream_generate_the_same_text(tiny) -> None:
    path, _ = tiny
    backend = HFBackend("tiny", path=path, max_new_tokens=8)
    messages = [Message.system("你是助手"), Message.user("华东汽车的现金流")]
    response = backend.chat(messages)
    assert isinstance(response.content, str)
    assert 0 < response.usage["completion_tokens"] <= 8
    streamed = list(backend.stream(messages))
    assert collect(streamed).content == response.content
    assert streamed[-1].finish_reason == "stop"


def test_with_tools_the_answer_still_streams_and_a_call_is_never_streamed(tiny) -> None:
    path, _ = tiny
    backend = HFBackend("tiny", path=path, max_new_tokens=8)
    messages = [Message.system("你是助手"), Message.user("华东汽车的现金流")]
    tools = [{"type": "function", "function": {"name": "get_cashflow", "parameters": {}}}]
    whole = backend.chat(messages, tools=tools)
    streamed = list(backend.stream(messages, tools=tools))
    assert collect(streamed).content == whole.content
    given = ""
    for text in ("我来查一下。<tool_c", 'all>{"name": "get_cashflow"}</tool_call>'):
        ready = answer_prefix(given + text, json_mode=False)
        given += text
    assert ready == "我来查一下。"
    assert parse_tool_calls(given, json_mode=False)[0] == ready


def test_adapter_is_loaded_and_changes_the_model(tiny, adapter) -> None:
    path, _ = tiny
    config = ModelConfig(
        backend="hf", path=str(path), adapter=str(adapter), max_tokens=4, temperature=0
    )
    tuned = create_backend("tuned", config)
    plain = HFBackend("plain", path=path, max_new_tokens=4)
    tuned.warm_up()
    plain.warm_up()
    assert isinstance(tuned.model, peft.PeftModel)
    ids = plain.tokenizer("现金流", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert not torch.allclose(tuned.model(ids).logits, plain.model(ids).logits)
    assert isinstance(tuned.chat([Message.user("你好")]).content, str)


def test_tools_go_through_the_template_or_json_prompting(tiny, tmp_path: Path) -> None:
    path, _ = tiny
    tools = [{"type": "function", "function": {"name": "get_cashflow", "parameters": {}}}]
    native = HFBackend("native", path=path, max_new_tokens=2)
    inputs, json_mode = native._prompt([Message.user("现金流")], tools)
    prompt = native.tokenizer.decode(inputs["input_ids"][0])
    assert not json_mode and "<tools>" in prompt and "get_cashflow" in prompt
    plain_path, _ = build_tiny_qwen2(tmp_path / "plain", PLAIN_TEMPLATE)
    plain = HFBackend("plain", path=plain_path, max_new_tokens=2)
    inputs, json_mode = plain._prompt([Message.user("现金流")], tools)
    prompt = plain.tokenizer.decode(inputs["input_ids"][0])
    assert json_mode and '"tool_calls"' in prompt and "get_cashflow" in prompt
    assert plain.chat([Message.user("现金流")], tools=tools).model == "plain"


def test_tool_call_parsing() -> None:
    text = '好的。<tool_call>{"name": "get_cashflow", "arguments": {"enterprise_id": "E0001"}}</tool_call>'
    content, calls = parse_tool_calls(text, json_mode=False)
    assert content == "好的。"
    assert calls[0].name == "get_cashflow" and calls[0].parsed() == {"enterprise_id": "E0001"}
    content, calls = parse_tool_calls(
        '{"tool_calls": [{"name": "get_risk_signals", "arguments": {"enterprise_id": "E0005"}}]}',
        json_mode=True,
    )
    assert content == "" and calls[0].name == "get_risk_signals"


def test_missing_model_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match=r"缺少 config\.json"):
        HFBackend("x", path=tmp_path / "nope").warm_up()
    with pytest.raises(ModelNotFound, match="path"):
        create_backend("x", ModelConfig(backend="hf"))


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(MissingExtra, match=r"finassist\[train\]"):
        HFBackend("x", path=tmp_path).warm_up()
