"""The chat seam: messages, tool calls, responses, stream chunks, the backend protocol, errors.

>>> Message.user("你好").to_openai()
{'role': 'user', 'content': '你好'}
>>> ToolCall("c1", "get_cashflow", '{"enterprise_id": "E0001"}').parsed()
{'enterprise_id': 'E0001'}
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from finassist.errors import FinassistError


class ModelError(FinassistError):
    """A model backend failed; the message says what to fix (key, model name, address)."""

    retryable = False  # the router may try the next backend on any ModelError


class ModelUnavailable(ModelError):
    """The service cannot be reached, timed out or kept failing (429/5xx)."""

    retryable = True


class ModelAuthError(ModelError):
    """The service refused the API key."""


class ModelNotFound(ModelError):
    """The model name (or the local model path) does not exist."""


class ModelResponseError(ModelError):
    """The service answered something that cannot be read (a malformed chunk, bad JSON)."""


class MissingExtra(ModelError):
    """An optional dependency is not installed."""


@dataclass(frozen=True)
class ToolCall:
    """A function call the model asked for; ``arguments`` is the JSON text the model wrote."""

    id: str
    name: str
    arguments: str = "{}"

    def parsed(self) -> dict[str, Any]:
        """The arguments as a dict; :class:`ModelResponseError` if they are not a JSON object."""
        try:
            value = json.loads(self.arguments or "{}")
        except json.JSONDecodeError as exc:
            raise ModelResponseError(
                f"模型给工具 {self.name} 的参数不是合法的 JSON：{self.arguments[:200]}"
            ) from exc
        if not isinstance(value, dict):
            raise ModelResponseError(f"模型给工具 {self.name} 的参数应为 JSON 对象。")
        return value

    def to_openai(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


@dataclass(frozen=True)
class Message:
    """One chat message (system | user | assistant | tool)."""

    role: str
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None

    @classmethod
    def system(cls, content: str) -> Message:
        return cls("system", content)

    @classmethod
    def user(cls, content: str) -> Message:
        return cls("user", content)

    @classmethod
    def assistant(cls, content: str, tool_calls: Iterable[ToolCall] = ()) -> Message:
        return cls("assistant", content, tuple(tool_calls))

    @classmethod
    def tool(cls, tool_call_id: str, content: str) -> Message:
        return cls("tool", content, tool_call_id=tool_call_id)

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI wire form of this message."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = [c.to_openai() for c in self.tool_calls]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        return out


@dataclass(frozen=True)
class ChatResponse:
    """A finished answer: text and/or tool calls."""

    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    model: str = ""
    finish_reason: str | None = None
    usage: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "content": self.content,
            "tool_calls": [c.to_openai() for c in self.tool_calls],
            "model": self.model,
            "finish_reason": self.finish_reason,
            "usage": self.usage,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChatResponse:
        calls = tuple(
            ToolCall(c["id"], c["function"]["name"], c["function"]["arguments"])
            for c in data.get("tool_calls", [])
        )
        return cls(
            data.get("content") or "",
            calls,
            data.get("model", ""),
            data.get("finish_reason"),
            dict(data.get("usage") or {}),
        )


@dataclass(frozen=True)
class StreamChunk:
    """A piece of a streamed answer: text as it comes; tool calls, the reason and the model
    that answered at the end."""

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    model: str = ""


@runtime_checkable
class ChatBackend(Protocol):
    """What every backend does. ``tools`` are OpenAI function schemas (``Tool.schema()``)."""

    name: str

    def chat(
        self, messages: list[Message], *, tools: list[dict[str, Any]] | None = None
    ) -> ChatResponse:
        """The whole answer at once."""
        ...

    def stream(
        self, messages: list[Message], *, tools: list[dict[str, Any]] | None = None
    ) -> Iterator[StreamChunk]:
        """The answer piece by piece; the last chunk carries tool calls and the finish reason."""
        ...


def collect(chunks: Iterable[StreamChunk], model: str = "") -> ChatResponse:
    """Join a stream into one :class:`ChatResponse`."""
    text: list[str] = []
    calls: tuple[ToolCall, ...] = ()
    reason = None
    for chunk in chunks:
        text.append(chunk.text)
        calls = calls + chunk.tool_calls
        reason = chunk.finish_reason or reason
        model = chunk.model or model
    return ChatResponse("".join(text), calls, model, reason)
