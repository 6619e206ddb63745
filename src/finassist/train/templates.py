"""Chat templates for training: the model's own (``auto``), a built-in one, or a ``.jinja`` file.

Built-in templates are Jinja files shipped in ``train/templates/``. Each names the special
tokens it writes, so a template that does not belong to the model (``llama3`` on a Qwen
tokenizer) is refused before any training instead of silently teaching the model plain-text
role markers.

>>> sorted(TEMPLATES)
['baichuan2', 'chatglm3', 'chatml', 'llama3', 'qwen2.5']
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from finassist.errors import ConfigError, NotFound


@dataclass(frozen=True)
class BuiltinTemplate:
    """A template file in the package and the tokens it needs in the model's vocabulary."""

    name: str
    file: str
    tokens: tuple[str, ...]
    models: str


TEMPLATES: dict[str, BuiltinTemplate] = {
    t.name: t
    for t in (
        BuiltinTemplate("chatml", "chatml.jinja", ("<|im_start|>", "<|im_end|>"), "ChatML 系列"),
        BuiltinTemplate(
            "qwen2.5", "qwen2.5.jinja", ("<|im_start|>", "<|im_end|>"), "Qwen2.5-Instruct"
        ),
        BuiltinTemplate(
            "llama3",
            "llama3.jinja",
            ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
            "Llama-3-Instruct",
        ),
        BuiltinTemplate(
            "chatglm3",
            "chatglm3.jinja",
            ("[gMASK]", "sop", "<|user|>", "<|assistant|>"),
            "ChatGLM3-6B",
        ),
        BuiltinTemplate(
            "baichuan2", "baichuan2.jinja", ("<reserved_106>", "<reserved_107>"), "Baichuan2-Chat"
        ),
    )
}


def template_text(name: str) -> str:
    """The Jinja source of a built-in template, or of a ``.jinja`` file named by path."""
    if name in TEMPLATES:
        package = resources.files("finassist.train").joinpath("templates")
        return package.joinpath(TEMPLATES[name].file).read_text(encoding="utf-8")
    path = Path(name)
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise NotFound(f"对话模板文件 {path} 无法读取：{exc.strerror or exc}") from exc


def apply_template(tokenizer: Any, name: str) -> None:
    """Give ``tokenizer`` the chat template ``name`` (``auto`` keeps its own; checks the fit)."""
    if name == "auto":
        if not getattr(tokenizer, "chat_template", None):
            raise ConfigError(
                "模型的分词器没有自带对话模板（chat_template）。请在训练配置中指定 template，"
                f"可选：{'、'.join(TEMPLATES)}，或一个 .jinja 文件。"
            )
        return
    if name in TEMPLATES:
        vocab = tokenizer.get_vocab()
        missing = [t for t in TEMPLATES[name].tokens if t not in vocab]
        if missing:
            raise ConfigError(
                f"对话模板 {name}（适用于 {TEMPLATES[name].models}）需要的特殊符号 "
                f"{'、'.join(missing)} 不在模型词表中：模板与模型不匹配。"
                "请换用与模型对应的模板，或用 template: auto 使用模型自带的模板。"
            )
    tokenizer.chat_template = template_text(name)
