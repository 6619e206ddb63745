"""The hf backend on a tiny Qwen2-architecture model built here: real loading, adapter, generation.

The tokenizer is a byte-level BPE trained on the spot with Qwen2's pre-tokenisation rule, saved
as a Qwen2 tokenizer; reloading it must give the same ids (the regex is part of the contract).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

from finassist.config import ModelConfig  # noqa: E402
from finassist.llm.hf import HFBackend, parse_tool_calls  # noqa: E402
from finassist.llm.registry import create_backend  # noqa: E402
from finassist.llm.types import Message, MissingExtra, ModelNotFound, collect  # noqa: E402

QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CORPUS = [
    "华东汽车近12个月的现金流怎么样？",
    "恒泰精密的应收发票还有多少没付？",
    "您好，我是供应链金融助手，很高兴为您服务。",
    "反向保理是核心企业确认应付账款后，由银行向供应商提供融资。",
    '<tool_call>{"name": "get_cashflow", "arguments": {"enterprise_id": "E0001"}}</tool_call>',
    "system user assistant tool tools function name arguments",
] * 4
TEMPLATE = (
    "{%- if tools %}<|im_start|>system\n{{ messages[0]['content'] if messages[0]['role'] == 'system' }}"
    "\n# Tools\n<tools>{% for t in tools %}{{ t | tojson }}{% endfor %}</tools><|im_end|>\n"
    "{%- endif %}"
    "{%- for m in messages %}{%- if not (tools and loop.first and m['role'] == 'system') %}"
    "<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
    "{%- if m.tool_calls %}{% for c in m.tool_calls %}<tool_call>{{ c.function | tojson }}</tool_call>"
    "{% endfor %}{% endif %}<|im_end|>\n{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{%- endif %}"
)
PLAIN_TEMPLATE = (
    "{%- for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{%- endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{%- endif %}"
)


def _tokenizer(directory: Path, template: str):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer)
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIALS[1:],
    )
    fast.chat_template = template
    fast.save_pretrained(directory)
    # Saved as a Qwen2 tokenizer: a reload rebuilds the pre-tokeniser from Qwen2's own rule.
    config_path = directory / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["tokenizer_class"] = "Qwen2Tokenizer"
    config_path.write_text(json.dumps(config, ensure_ascii=False))
    return fast


def _build(directory: Path, template: str = TEMPLATE) -> tuple[Path, object]:
    tokenizer = _tokenizer(directory, template)
    config = transformers.Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    transformers.Qwen2ForCausalLM(config).save_pretrained(directory)
    return directory, tokenizer


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    return _build(tmp_path_factory.mktemp("tiny-qwen2"))


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
    plain_path, _ = _build(tmp_path / "plain", PLAIN_TEMPLATE)
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
