"""The offline engine behind the chat protocol: no model, answers composed from templates.

The assistant binds a ``responder`` for each turn (its template composer over the evidence it
gathered); the router puts this backend last, so a turn always gets an answer even when every
model is down. Built from settings alone it only says that no model is configured.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from finassist.config import ModelConfig, Settings
from finassist.llm.registry import OFFLINE, register_backend
from finassist.llm.types import ChatResponse, Message, StreamChunk

NO_MODEL_REPLY = (
    "当前为离线模式（未配置模型），只能回答企业数据类问题，请换一种问法或联系管理员配置模型。"
)

Responder = Callable[[list[Message]], str]


def _no_model(_messages: list[Message]) -> str:
    return NO_MODEL_REPLY


class OfflineBackend:
    """Answers with ``responder(messages)``; never calls tools, never fails."""

    def __init__(self, name: str = OFFLINE, responder: Responder | None = None) -> None:
        self.name = name
        self.responder = responder or _no_model

    def chat(
        self, messages: list[Message], *, tools: list[dict[str, Any]] | None = None
    ) -> ChatResponse:
        return ChatResponse(self.responder(messages), model=OFFLINE, finish_reason="stop")

    def stream(
        self, messages: list[Message], *, tools: list[dict[str, Any]] | None = None
    ) -> Iterator[StreamChunk]:
        yield StreamChunk(text=self.responder(messages))
        yield StreamChunk(finish_reason="stop", model=OFFLINE)


@register_backend(OFFLINE)
def from_config(name: str, config: ModelConfig, settings: Settings | None = None) -> OfflineBackend:
    return OfflineBackend(name)
