"""Token rows for training: conversations with an assistant-only loss mask, raw text in blocks.

:func:`render_conversation` is the SFT step in one function (nanochat's idea): the conversation
is rendered with the tokenizer's chat template and every assistant message's tokens, its
end-of-turn token included, are marked trainable; system and user text never are. The
assistant spans are found by rendering prefixes (``messages[:i]`` with the generation prompt
and ``messages[:i+1]``), so any template works, with or without ``{% generation %}`` tags.

A span ends at its last special token (``<|im_end|>``, ``<|eot_id|>``, eos): what a template
writes after it (a newline) is not the model's to learn. A template that closes an answer with
the next turn's opening token (ChatGLM3's ``<|user|>``) has that token trained instead, and
the last answer of a conversation with nothing to close it gets an eos.

>>> ids, mask = render_conversation(tokenizer, messages)          # doctest: +SKIP
>>> tokenizer.decode([t for t, m in zip(ids, mask) if m])          # doctest: +SKIP
'您好，有什么可以帮您？<|im_end|>'
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finassist.errors import InvalidInput
from finassist.train.formats import Messages, read_conversations, read_texts

_HASH_BLOCK = 1 << 20


@dataclass
class DataStats:
    """What became of the input: counts a user should see before trusting a run."""

    records: int = 0
    rows: int = 0
    truncated: int = 0
    dropped: int = 0
    tokens: int = 0
    trained_tokens: int = 0
    files: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "rows": self.rows,
            "truncated": self.truncated,
            "dropped": self.dropped,
            "tokens": self.tokens,
            "trained_tokens": self.trained_tokens,
        }


@dataclass
class Encoded:
    """Rows ready for the trainer (``input_ids`` and, for SFT, ``assistant_masks``) and stats."""

    input_ids: list[list[int]]
    masks: list[list[int]] | None
    stats: DataStats

    def columns(self) -> dict[str, list[list[int]]]:
        cols = {"input_ids": self.input_ids}
        if self.masks is not None:
            cols["assistant_masks"] = self.masks
        return cols


def _render(tokenizer: Any, messages: Messages, generation: bool) -> str:
    from jinja2 import TemplateError

    try:
        return tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation
        )
    except TemplateError as exc:
        raise InvalidInput(f"对话模板无法渲染这段对话：{exc}") from exc


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def special_ids(tokenizer: Any) -> set[int]:
    """Ids of the tokenizer's special tokens (eos, role markers, end-of-turn tokens)."""
    ids = set(tokenizer.all_special_ids)
    decoder = getattr(tokenizer, "added_tokens_decoder", None) or {}
    ids.update(i for i, token in decoder.items() if getattr(token, "special", False))
    return ids


def render_conversation(tokenizer: Any, messages: Messages) -> tuple[list[int], list[int]]:
    """Token ids of ``messages`` in the chat template and a 0/1 mask over the assistant tokens."""
    full = _render(tokenizer, messages, False)
    bounds: list[int] = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = _render(tokenizer, messages[:i], True)
        upto = _render(tokenizer, messages[: i + 1], False)
        if not (upto.startswith(before) and full.startswith(upto)):
            raise InvalidInput(
                "对话模板渲染对话前缀的结果与完整对话不一致（例如会改写历史轮次），无法定位助手回复。"
                "请在训练配置中换用内置模板（template: chatml 等）。"
            )
        bounds += [len(before), len(upto)]
    pieces = [full[:p] for p in bounds]
    encoded = tokenizer([full, *pieces], add_special_tokens=False)["input_ids"]
    ids = list(encoded[0])
    mask = [0] * len(ids)
    stops = special_ids(tokenizer)
    for k in range(0, len(pieces), 2):
        start = _common_prefix(encoded[1 + k], ids)
        end = max(_common_prefix(encoded[2 + k], ids), start)
        last = next((j for j in range(end - 1, start - 1, -1) if ids[j] in stops), None)
        if last is not None:
            end = last + 1
        elif end < len(ids) and ids[end] in stops:
            end += 1  # the next turn's opening token closes the answer (ChatGLM3)
        elif end == len(ids) and tokenizer.eos_token_id is not None:
            ids.append(tokenizer.eos_token_id)  # nothing closes the last answer: teach eos
            mask.append(0)
            end += 1
        for j in range(start, end):
            mask[j] = 1
    return ids, mask


def encode_sft(tokenizer: Any, files: list[Path], max_length: int) -> Encoded:
    """Every conversation of ``files`` rendered and masked; longer ones cut to ``max_length``.

    A conversation cut so short that no assistant token is left is dropped (counted).
    """
    stats = DataStats(files=[str(f) for f in files])
    rows: list[list[int]] = []
    masks: list[list[int]] = []
    for path in files:
        for where, messages in read_conversations(path):
            stats.records += 1
            try:
                ids, mask = render_conversation(tokenizer, messages)
            except InvalidInput as exc:
                raise InvalidInput(f"{where}: {exc}") from None
            if len(ids) > max_length:
                ids, mask = ids[:max_length], mask[:max_length]
                stats.truncated += 1
            if not any(mask):
                stats.dropped += 1
                continue
            rows.append(ids)
            masks.append(mask)
            stats.tokens += len(ids)
            stats.trained_tokens += sum(mask)
    stats.rows = len(rows)
    if not rows:
        raise InvalidInput(
            f"训练数据中没有可用的对话（共 {stats.records} 条，截断后无助手回复而丢弃 {stats.dropped} 条）。"
            "请检查数据，或调大 max_length。"
        )
    return Encoded(rows, masks, stats)


def encode_pt(
    tokenizer: Any, files: list[Path], max_length: int, text_field: str, *, packing: bool = True
) -> Encoded:
    """Documents as tokens + eos, cut into rows of ``max_length`` tokens; the loss is on all.

    With ``packing`` the documents are concatenated first (standard continued pre-training:
    full rows, a row may span two documents); without, each document is cut on its own.
    """
    stats = DataStats(files=[str(f) for f in files])
    eos = tokenizer.eos_token_id
    rows: list[list[int]] = []
    stream: list[int] = []
    for path in files:
        for text in read_texts(path, text_field):
            stats.records += 1
            ids = list(tokenizer(text)["input_ids"])
            if eos is not None and (not ids or ids[-1] != eos):
                ids.append(eos)
            stats.tokens += len(ids)
            if packing:
                stream += ids
                while len(stream) >= max_length:
                    rows.append(stream[:max_length])
                    stream = stream[max_length:]
            else:
                rows += [ids[i : i + max_length] for i in range(0, len(ids), max_length)]
    if stream:
        rows.append(stream)
    if not rows:
        raise InvalidInput(f"预训练数据中没有文本（文件：{', '.join(stats.files)}）。")
    stats.rows = len(rows)
    stats.trained_tokens = stats.tokens
    return Encoded(rows, None, stats)


def data_hash(files: list[Path]) -> str:
    """sha256 over the bytes of ``files`` in order: the data manifest hash of a version."""
    digest = hashlib.sha256()
    for path in files:
        with path.open("rb") as fh:
            while block := fh.read(_HASH_BLOCK):
                digest.update(block)
    return digest.hexdigest()
