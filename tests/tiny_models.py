"""Tiny Qwen2-architecture models built on the spot: random weights and a byte-level BPE
tokenizer trained here with Qwen2's pre-tokenisation rule, saved as a Qwen2 tokenizer.

Used by the hf backend, training, merge and evaluation tests; nothing is downloaded.
Needs the ``train`` extra (callers ``pytest.importorskip`` torch and transformers first).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import transformers

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


def build_tokenizer(directory: Path, template: str, corpus: list[str] | None = None):
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
    tok.train_from_iterator(CORPUS + (corpus or []), trainer)
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


def build_tiny_qwen2(
    directory: Path,
    template: str = TEMPLATE,
    *,
    corpus: list[str] | None = None,
    hidden_size: int = 32,
    layers: int = 2,
    seed: int = 0,
) -> tuple[Path, object]:
    """A saved Qwen2 model in ``directory`` (its tokenizer also learns ``corpus``)."""
    tokenizer = build_tokenizer(directory, template, corpus)
    config = transformers.Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    transformers.Qwen2ForCausalLM(config).save_pretrained(directory)
    return directory, tokenizer
