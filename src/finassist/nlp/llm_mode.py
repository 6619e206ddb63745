"""The same three tasks through any OpenAI-compatible chat model (LLM mode).

Each prompt lists the options the model may answer with; the reply is parsed back into the
offline result types, so a caller can switch modes without changing anything else. The model is
reached through the one chat seam, :class:`finassist.llm.types.ChatBackend` (only those types
are imported, never a backend): the CLI and the evaluator pass a configured model, tests the
scripted backend.

>>> from finassist.llm.scripted import ScriptedBackend
>>> fake = ScriptedBackend()
>>> fake.enqueue("个股问询")
>>> llm_intent("茅台还能拿吗", IntentRouter.default(), fake).name
'stock'
"""

from __future__ import annotations

import json
import re
from typing import Any

from finassist.llm.types import ChatBackend, Message, ModelResponseError
from finassist.nlp.intent import UNKNOWN, UNKNOWN_LABEL, Intent, IntentRouter
from finassist.nlp.ner import TYPE_LABELS, Entity
from finassist.nlp.sentiment import LABELS, Sentiment

SYSTEM = "你是金融文本分析助手。严格按要求的格式回答，不要解释。"


class LlmError(ModelResponseError):
    """The model answered something that cannot be parsed into a result."""


def intent_prompt(text: str, router: IntentRouter) -> list[Message]:
    """A prompt listing every intent label (grouped) plus 未识别."""
    lines = []
    for group, group_label in router.groups.items():
        labels = [s.label for s in router.specs if s.group == group]
        if labels:
            lines.append(f"{group_label}：{'、'.join(labels)}")
    options = "\n".join(lines)
    user = (
        f"判断用户消息的意图，只能从下列选项中选一个，原样输出选项名；都不符合时输出“{UNKNOWN_LABEL}”。\n"
        f"{options}\n\n用户消息：{text}\n意图："
    )
    return [Message.system(SYSTEM), Message.user(user)]


def llm_intent(text: str, router: IntentRouter, backend: ChatBackend) -> Intent:
    """The intent a model picks (``score`` is 1.0: a model's pick carries no probability)."""
    reply = backend.chat(intent_prompt(text, router)).content
    label = _pick([s.label for s in router.specs] + [UNKNOWN_LABEL], reply)
    spec = next((s for s in router.specs if s.label == label), None)
    if spec is None:
        return Intent(UNKNOWN, UNKNOWN_LABEL, 0.0, 1.0, (), False)
    matched = tuple(kw for kw in spec.keywords if kw in text)
    return Intent(spec.name, spec.label, 1.0, 1.0, matched, spec.needs_enterprise, spec.group)


def sentiment_prompt(text: str) -> list[Message]:
    """A prompt for 积极 / 中性 / 消极."""
    user = f"判断这段金融文本的情感倾向，只输出{'、'.join(LABELS)}之一。\n\n文本：{text}\n情感："
    return [Message.system(SYSTEM), Message.user(user)]


def llm_sentiment(text: str, backend: ChatBackend) -> Sentiment:
    """The sentiment a model picks."""
    label = _pick(list(LABELS), backend.chat(sentiment_prompt(text)).content)
    return Sentiment(label, 1.0, {name: float(name == label) for name in LABELS})


def ner_prompt(text: str) -> list[Message]:
    """A prompt for entities as a JSON list of {"text", "type"}."""
    types = "；".join(f"{k}={v}" for k, v in TYPE_LABELS.items())
    user = (
        '找出文本中的金融实体，输出 JSON 数组，每项为 {"text": 原文片段, "type": 类型}，'
        f"类型只能是：{types}。没有实体时输出 []。\n\n文本：{text}\nJSON："
    )
    return [Message.system(SYSTEM), Message.user(user)]


def llm_entities(text: str, backend: ChatBackend) -> list[Entity]:
    """Entities a model lists, located in ``text`` (items not found verbatim are dropped)."""
    reply = backend.chat(ner_prompt(text)).content
    found = re.search(r"\[.*\]", reply, re.S)
    if not found:
        raise LlmError(f"模型没有按要求输出 JSON 数组：{reply[:200]}")
    try:
        items: Any = json.loads(found.group(0))
    except json.JSONDecodeError as exc:
        raise LlmError(f"模型输出的 JSON 无法解析：{reply[:200]}") from exc
    out: list[Entity] = []
    used: set[int] = set()
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        surface, etype = str(item.get("text", "")), str(item.get("type", ""))
        if not surface or etype not in TYPE_LABELS:
            continue
        start = text.find(surface)
        while start in used:
            start = text.find(surface, start + 1)
        if start < 0:
            continue
        used.add(start)
        out.append(Entity(surface, etype, start, start + len(surface)))
    return sorted(out, key=lambda e: e.start)


def _pick(options: list[str], reply: str) -> str:
    """The option the reply names (the longest one found, so 行业板块问询 beats 板块)."""
    hits = [o for o in options if o in reply]
    if not hits:
        raise LlmError(f"模型的回答不在选项中：{reply[:100]}（选项：{'、'.join(options)}）")
    return max(hits, key=len)
