"""Optional model steps: quality score, task label, paraphrase, knowledge questions.

The pipeline talks to a model through one method, ``chat(messages) -> str`` (OpenAI-style
``[{"role": ..., "content": ...}]``). Backends are registered by name; a later ``finassist.llm``
backend satisfies the protocol as is and can be registered with :func:`register_backend`. The
``scripted`` backend replays fixed replies: tests register it exactly like a real one.

>>> backend = get_backend("scripted", replies=["4"])
>>> score_quality(backend, sample)  # doctest: +SKIP
4
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, runtime_checkable

from finassist.data.records import Sample, StageStats
from finassist.errors import ConfigError

ChatMessages = list[dict[str, str]]


@runtime_checkable
class ChatBackend(Protocol):
    """Anything that answers a chat: ``chat([{"role": "user", "content": "..."}]) -> str``."""

    def chat(self, messages: ChatMessages) -> str: ...


_BACKENDS: dict[str, Callable[..., ChatBackend]] = {}


def register_backend(name: str, factory: Callable[..., ChatBackend]) -> None:
    """Make a backend available to the pipeline under ``name`` (options go to ``factory``)."""
    _BACKENDS[name] = factory


def get_backend(name: str, settings: Any = None, **options: Any) -> ChatBackend:
    """The backend registered here as ``name``; else, given ``settings``, the model of that name
    from the model layer (``finassist.llm``), adapted to this protocol. An unknown name is a
    :class:`ConfigError` naming the choices."""
    _register_builtins()
    if name in _BACKENDS:
        return _BACKENDS[name](**options)
    if settings is not None:
        try:
            from finassist import llm as model_layer
        except ImportError:
            model_layer = None  # type: ignore[assignment]
        if model_layer is not None and hasattr(model_layer, "get_backend"):
            return ModelLayerBackend(model_layer.get_backend(name, settings))
    raise ConfigError(
        f"未知的模型后端：{name}。可用：{', '.join(sorted(_BACKENDS))}，或 finassist.toml 中配置的模型；"
        "不配置 llm.backend 时，质量评分、任务标注和改写步骤会被跳过。"
    )


class ModelLayerBackend:
    """Adapts a ``finassist.llm`` backend (``chat(list[Message]) -> ChatResponse``) to
    ``chat(list[dict]) -> str``."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend

    def chat(self, messages: ChatMessages) -> str:
        from finassist.llm import Message

        response = self.backend.chat([Message(m["role"], m["content"]) for m in messages])
        return str(getattr(response, "content", response))


class ScriptedBackend:
    """Replies from a list, in turn (cycling), or from a function of the messages; records
    every request in ``calls``. For tests and demos."""

    def __init__(
        self,
        replies: Iterable[str] = (),
        respond: Callable[[ChatMessages], str] | None = None,
    ) -> None:
        self.replies = list(replies)
        self.respond = respond
        self.calls: list[ChatMessages] = []

    def chat(self, messages: ChatMessages) -> str:
        self.calls.append(messages)
        if self.respond is not None:
            return self.respond(messages)
        if not self.replies:
            return ""
        return self.replies[(len(self.calls) - 1) % len(self.replies)]


def _register_builtins() -> None:
    _BACKENDS.setdefault("scripted", ScriptedBackend)


# -- prompts (Chinese: the model is asked in the language of the data) -----------------------------

QUALITY_PROMPT = (
    "请为下面这段客服对话中最后一条客服回复的质量打分（1-5 分）：5 分表示专业、准确、礼貌且"
    "解决了问题，1 分表示无意义或有误。只输出一个数字。\n\n{dialogue}"
)
LABEL_PROMPT = (
    "请判断下面这段客服对话属于哪一类任务，只从以下类别中选一个输出：{labels}。\n\n{dialogue}"
)
PARAPHRASE_PROMPT = (
    "请在不改变意思、不增删事实和数字的前提下，改写下面这句客服回复，只输出改写结果：\n{reply}"
)
QUESTION_PROMPT = "请根据下面的资料，提出一个客户经理可能会问的问题，只输出问题本身：\n{passage}"

DEFAULT_LABELS = (
    "产品咨询",
    "材料准备",
    "进度查询",
    "额度利率",
    "发票核验",
    "还款结算",
    "寒暄",
    "其他",
)


def render_dialogue(sample: Sample) -> str:
    names = {"user": "客户经理", "assistant": "客服"}
    return "\n".join(f"{names.get(m['role'], m['role'])}：{m['content']}" for m in sample.messages)


_DIGIT = re.compile(r"[1-5]")


def score_quality(backend: ChatBackend, sample: Sample) -> int | None:
    """The model's 1-5 score of the reply, or None when the answer has no score in it."""
    answer = backend.chat(
        [{"role": "user", "content": QUALITY_PROMPT.format(dialogue=render_dialogue(sample))}]
    )
    match = _DIGIT.search(answer)
    return int(match.group(0)) if match else None


def label_task(backend: ChatBackend, sample: Sample, labels: tuple[str, ...]) -> str:
    """The task label the model chose (one of ``labels``; ``其他`` when it named none)."""
    prompt = LABEL_PROMPT.format(labels="、".join(labels), dialogue=render_dialogue(sample))
    answer = backend.chat([{"role": "user", "content": prompt}])
    for label in labels:
        if label in answer:
            return label
    return "其他"


def llm_steps(
    samples: Iterable[Sample],
    backend: ChatBackend,
    *,
    min_quality: int,
    labels: tuple[str, ...] | None,
    stats: StageStats,
) -> Iterator[Sample]:
    """Score each sample and drop those below ``min_quality``; label the kept ones."""
    unparsed = 0
    for sample in samples:
        stats.count_in += 1
        score = score_quality(backend, sample)
        if score is None:
            unparsed += 1  # kept: a model that answers off-format should not empty the dataset
        else:
            sample.meta["quality"] = score
            if score < min_quality:
                stats.drop(f"质量分低于 {min_quality}")
                continue
        if labels:
            sample.meta["task"] = label_task(backend, sample, labels)
        stats.count_out += 1
        yield sample
    if unparsed:
        stats.notes.append(f"{unparsed} 个样本的质量评分无法从模型回答中解析，已保留。")


def paraphrase(backend: ChatBackend, text: str) -> str:
    """The model's paraphrase of ``text`` (stripped; empty when it gave nothing)."""
    return backend.chat([{"role": "user", "content": PARAPHRASE_PROMPT.format(reply=text)}]).strip()


def generate_question(backend: ChatBackend, passage: str) -> str:
    """A question a relationship manager might ask about ``passage``."""
    return backend.chat(
        [{"role": "user", "content": QUESTION_PROMPT.format(passage=passage)}]
    ).strip()
