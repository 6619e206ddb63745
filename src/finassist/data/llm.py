"""Optional model steps: quality score, task label, paraphrase, knowledge questions.

The pipeline talks to a model through the one chat seam of the model layer
(:class:`finassist.llm.types.ChatBackend`). ``llm.backend`` in a recipe names a model of
``[finassist.models]`` (or a trained version, or ``offline``); ``llm.options`` override fields of
that model's entry for this build (e.g. ``temperature: 0`` for scoring). Tests pass a
:class:`finassist.llm.scripted.ScriptedBackend` like any other backend.

>>> from finassist.llm.scripted import ScriptedBackend
>>> fake = ScriptedBackend()
>>> fake.enqueue("  这笔应收账款何时到期？ ")
>>> generate_question(fake, "应收账款于 6 月 30 日到期。")
'这笔应收账款何时到期？'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from finassist.config import ModelConfig, Settings
from finassist.data.records import Sample, StageStats
from finassist.errors import ConfigError
from finassist.llm.registry import create_backend, model_config
from finassist.llm.types import ChatBackend, Message

__all__ = [
    "DEFAULT_LABELS",
    "generate_question",
    "label_task",
    "llm_steps",
    "model_backend",
    "paraphrase",
    "score_quality",
]


def model_backend(
    name: str, settings: Settings, options: Mapping[str, Any] | None = None
) -> ChatBackend:
    """The backend of the model ``name`` in the settings, its entry overridden by ``options``.

    An unknown model name or option is a :class:`ConfigError` naming it and the choices.
    """
    config = model_config(name, settings)
    if options:
        unknown = sorted(set(options) - set(ModelConfig.model_fields))
        if unknown:
            raise ConfigError(
                f"数据配置 llm.options 中有未知的模型选项：{'、'.join(unknown)}。"
                f"可用：{', '.join(sorted(ModelConfig.model_fields))}"
            )
        config = ModelConfig.model_validate({**config.model_dump(), **options})
    return create_backend(name, config, settings)


def _ask(backend: ChatBackend, prompt: str) -> str:
    """The model's answer text to one user prompt."""
    return backend.chat([Message.user(prompt)]).content


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
    answer = _ask(backend, QUALITY_PROMPT.format(dialogue=render_dialogue(sample)))
    match = _DIGIT.search(answer)
    return int(match.group(0)) if match else None


def label_task(backend: ChatBackend, sample: Sample, labels: tuple[str, ...]) -> str:
    """The task label the model chose (one of ``labels``; ``其他`` when it named none)."""
    prompt = LABEL_PROMPT.format(labels="、".join(labels), dialogue=render_dialogue(sample))
    answer = _ask(backend, prompt)
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
    return _ask(backend, PARAPHRASE_PROMPT.format(reply=text)).strip()


def generate_question(backend: ChatBackend, passage: str) -> str:
    """A question a relationship manager might ask about ``passage``."""
    return _ask(backend, QUESTION_PROMPT.format(passage=passage)).strip()
