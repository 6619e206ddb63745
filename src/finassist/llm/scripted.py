"""A scripted fake backend for tests: enqueue the answers and tool calls it should give.

It registers like the real backends (``backend = "scripted"``) and records every request, so
orchestration tests can check what the model was shown.

>>> fake = ScriptedBackend()
>>> fake.enqueue("您好[1]。", [ToolCall("c1", "get_cashflow", '{"enterprise_id": "E0001"}')])
>>> fake.chat([Message.user("你好")]).content
'您好[1]。'
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from finassist.config import ModelConfig, Settings
from finassist.llm.registry import register_backend
from finassist.llm.types import ChatResponse, Message, ModelError, StreamChunk, ToolCall

Script = (
    str
    | ChatResponse
    | ToolCall
    | list[ToolCall]
    | BaseException
    | Callable[[list[Message]], "ChatResponse | str"]
)


@dataclass
class Request:
    """One call the fake received."""

    messages: list[Message]
    tools: list[dict[str, Any]] | None


@dataclass
class ScriptedBackend:
    """Gives the enqueued items in order: text, tool calls, an exception to raise, or a function.

    ``respond``, when given, answers every request that finds the queue empty (a fake that
    answers each prompt by its content, for as many calls as a pipeline makes).
    """

    name: str = "scripted"
    queue: deque[Script] = field(default_factory=deque)
    requests: list[Request] = field(default_factory=list)
    respond: Callable[[list[Message]], ChatResponse | str] | None = None

    def enqueue(self, *items: Script) -> None:
        """Add answers to give, in order."""
        self.queue.extend(items)

    def chat(
        self, messages: list[Message], *, tools: list[dict[str, Any]] | None = None
    ) -> ChatResponse:
        self.requests.append(Request(list(messages), tools))
        if self.queue:
            item: Script = self.queue.popleft()
        elif self.respond is not None:
            item = self.respond
        else:
            raise ModelError(f"脚本模型 {self.name} 没有更多预设应答。")
        if callable(item) and not isinstance(item, BaseException | ToolCall | ChatResponse):
            item = item(messages)
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, ChatResponse):
            return item
        if isinstance(item, ToolCall):
            item = [item]
        if isinstance(item, list):
            return ChatResponse("", tuple(item), self.name, "tool_calls")
        return ChatResponse(str(item), (), self.name, "stop")

    def stream(
        self, messages: list[Message], *, tools: list[dict[str, Any]] | None = None
    ) -> Iterator[StreamChunk]:
        response = self.chat(messages, tools=tools)
        for char in response.content:
            yield StreamChunk(text=char)
        yield StreamChunk(
            tool_calls=response.tool_calls,
            finish_reason=response.finish_reason,
            model=response.model or self.name,
        )


@register_backend("scripted")
def from_config(
    name: str, config: ModelConfig, settings: Settings | None = None
) -> ScriptedBackend:
    return ScriptedBackend(name)
