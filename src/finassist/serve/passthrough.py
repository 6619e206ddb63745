"""Configured models called through the server: ``model`` = a name from ``[finassist.models]``.

The grounded assistant is model ``finassist``; every other configured model can be called
directly through ``/v1/chat/completions`` with the OpenAI wire format (whole or streamed, tool
calls included). Its messages go to the backend as they are: no session, no evidence, no guard.
The backends are the very instances the assistant's router uses (built once per app).

>>> catalog = ModelCatalog.build(settings, router)     # doctest: +SKIP
>>> catalog.names()                                    # doctest: +SKIP
['deepseek', 'qwen-ft']
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from finassist.config import Settings
from finassist.errors import FinassistError
from finassist.llm import (
    ChatBackend,
    ChatResponse,
    Message,
    Router,
    StreamChunk,
    ToolCall,
)
from finassist.llm.router import backend_or_unavailable
from finassist.llm.types import (
    MissingExtra,
    ModelAuthError,
    ModelError,
    ModelNotFound,
    ModelResponseError,
    ModelUnavailable,
)
from finassist.serve.chat import completion_id
from finassist.serve.errors import ApiError, error_body
from finassist.serve.metrics import Metrics, count_tokens
from finassist.serve.options import MODEL_NAME

log = logging.getLogger("finassist.serve")

ROLES = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
    "function": "tool",
}
RETRY_AFTER_SECONDS = "5"
# Backend error class -> (HTTP status, OpenAI error code); the first match in order wins.
_MODEL_ERRORS: tuple[tuple[type[ModelError], int, str], ...] = (
    (ModelUnavailable, 503, "model_unavailable"),
    (ModelAuthError, 502, "upstream_auth_error"),
    (ModelNotFound, 502, "upstream_model_not_found"),
    (ModelResponseError, 502, "upstream_bad_response"),
    (MissingExtra, 503, "model_dependency_missing"),
)


@dataclass
class ModelCatalog:
    """The configured models callable through the server, by name (``finassist`` excluded)."""

    backends: dict[str, ChatBackend] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, router: Router | None) -> ModelCatalog:
        """Every model named in the settings; the router's instance where it has one."""
        built: dict[str, ChatBackend] = {}
        if router is not None:
            for backend in [*router.default, *(b for bs in router.routes.values() for b in bs)]:
                built.setdefault(backend.name, backend)
        backends = {
            name: built.get(name) or backend_or_unavailable(name, settings)
            for name in settings.models
            if name != MODEL_NAME
        }
        return cls(backends)

    def names(self) -> list[str]:
        """The model names, sorted."""
        return sorted(self.backends)

    def get(self, name: str) -> ChatBackend | None:
        """The backend of model ``name``, or None."""
        return self.backends.get(name)


# -- request --------------------------------------------------------------------------------


def to_messages(messages: list[Any]) -> list[Message]:
    """OpenAI request messages (``ChatMessage``) as :class:`Message`.

    Roles ``developer`` and ``function`` become ``system`` and ``tool``; arguments given as a
    JSON object are written back as JSON text.
    """
    out: list[Message] = []
    for message in messages:
        calls = tuple(
            ToolCall(
                call.id or f"call_{n}",
                call.function.name,
                call.function.arguments
                if isinstance(call.function.arguments, str)
                else json.dumps(call.function.arguments, ensure_ascii=False),
            )
            for n, call in enumerate(message.tool_calls or ())
        )
        call_id = message.tool_call_id
        if message.role == "function":
            call_id = call_id or message.name
        if message.role not in ("tool", "function"):
            call_id = None
        out.append(Message(ROLES[message.role], message.text(), calls, call_id))
    return out


def check_prompt_size(messages: list[Message], max_chars: int) -> None:
    """400 when the conversation's text is over ``max_chars`` characters."""
    total = sum(len(m.content) + sum(len(c.arguments) for c in m.tool_calls) for m in messages)
    if total > max_chars:
        raise ApiError(
            400,
            f"消息过长：对话共 {total:,} 个字符，上限为 {max_chars:,}。请精简后再发送。",
            code="message_too_long",
            param="messages",
        )


# -- calling the backend ----------------------------------------------------------------------


def model_error(name: str, exc: Exception) -> ApiError:
    """What the client sees when model ``name`` failed: 502/503 with the backend's reason."""
    status, code = 502, "model_error"
    for cls, s, c in _MODEL_ERRORS:
        if isinstance(exc, cls):
            status, code = s, c
            break
    if not isinstance(exc, FinassistError):
        log.error("model %s failed", name, exc_info=exc)
    reason = str(exc) if isinstance(exc, FinassistError) else type(exc).__name__
    headers = {"Retry-After": RETRY_AFTER_SECONDS} if status == 503 else None
    return ApiError(status, f"模型 {name} 调用失败：{reason}", code=code, headers=headers)


def usage_of(messages: list[Message], response: ChatResponse) -> dict[str, int]:
    """The backend's token counts where it gave them, estimated (offline) otherwise."""
    given = response.usage or {}
    prompt = given.get("prompt_tokens") or sum(count_tokens(m.content) for m in messages)
    completion = given.get("completion_tokens") or count_tokens(response.content)
    return {
        "prompt_tokens": int(prompt),
        "completion_tokens": int(completion),
        "total_tokens": int(prompt) + int(completion),
    }


def _calls_json(calls: tuple[ToolCall, ...], *, indexed: bool) -> list[dict[str, Any]]:
    out = []
    for i, call in enumerate(calls):
        item = call.to_openai()
        if indexed:
            item = {"index": i, **item}
        out.append(item)
    return out


def _finish(response_reason: str | None, calls: tuple[ToolCall, ...]) -> str:
    return response_reason or ("tool_calls" if calls else "stop")


def complete(
    name: str,
    backend: ChatBackend,
    messages: list[Message],
    tools: list[dict[str, Any]] | None,
    metrics: Metrics,
) -> dict[str, Any]:
    """Call the backend once and shape its answer as a ``chat.completion``."""
    start = time.perf_counter()
    try:
        response = backend.chat(messages, tools=tools)
    except Exception as exc:
        metrics.chat_errors.labels(name, type(exc).__name__).inc()
        raise model_error(name, exc) from exc
    usage = usage_of(messages, response)
    metrics.record_chat(
        name,
        stream=False,
        seconds=time.perf_counter() - start,
        prompt=usage["prompt_tokens"],
        completion=usage["completion_tokens"],
    )
    message: dict[str, Any] = {"role": "assistant", "content": response.content, "refusal": None}
    if response.tool_calls:
        message["tool_calls"] = _calls_json(response.tool_calls, indexed=False)
        message["content"] = response.content or None
    return {
        "id": completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": name,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": _finish(response.finish_reason, response.tool_calls),
                "logprobs": None,
            }
        ],
        "usage": usage,
    }


def start_stream(
    name: str,
    backend: ChatBackend,
    messages: list[Message],
    tools: list[dict[str, Any]] | None,
    metrics: Metrics,
    *,
    include_usage: bool,
) -> Iterator[str]:
    """Server-sent events of the backend's stream.

    The first chunk is fetched before returning, so a backend that cannot start answering gives
    a proper HTTP error; a failure after text has flowed ends the stream with an error event.
    """
    start = time.perf_counter()
    chunks = iter(backend.stream(messages, tools=tools))
    try:
        first: StreamChunk | None = next(chunks)
    except StopIteration:
        first = None
    except Exception as exc:
        metrics.chat_errors.labels(name, type(exc).__name__).inc()
        raise model_error(name, exc) from exc
    return _events(name, first, chunks, messages, metrics, start, include_usage)


def _events(
    name: str,
    first: StreamChunk | None,
    rest: Iterator[StreamChunk],
    messages: list[Message],
    metrics: Metrics,
    start: float,
    include_usage: bool,
) -> Iterator[str]:
    cid, created = completion_id(), int(time.time())

    def event(delta: dict[str, Any], finish: str | None = None) -> str:
        chunk = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": name,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }
        return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"

    yield event({"role": "assistant", "content": ""})
    text: list[str] = []
    calls: tuple[ToolCall, ...] = ()
    reason: str | None = None
    pending = [first] if first is not None else []
    try:
        for chunk in _chain(pending, rest):
            if chunk.text:
                text.append(chunk.text)
                yield event({"content": chunk.text})
            calls += chunk.tool_calls
            reason = chunk.finish_reason or reason
    except Exception as exc:
        metrics.chat_errors.labels(name, type(exc).__name__).inc()
        error = model_error(name, exc)
        body = error_body(error.status, error.message, error.code)
        yield f"data: {json.dumps(body, ensure_ascii=False)}\n\n"
        return
    if calls:
        yield event({"tool_calls": _calls_json(calls, indexed=True)})
    yield event({}, _finish(reason, calls))
    usage = usage_of(messages, ChatResponse("".join(text), calls))
    metrics.record_chat(
        name,
        stream=True,
        seconds=time.perf_counter() - start,
        prompt=usage["prompt_tokens"],
        completion=usage["completion_tokens"],
    )
    if include_usage:
        tail = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": name,
            "choices": [],
            "usage": usage,
        }
        yield f"data: {json.dumps(tail, ensure_ascii=False)}\n\n"
    yield "data: [DONE]\n\n"


def _chain(first: list[StreamChunk], rest: Iterator[StreamChunk]) -> Iterator[StreamChunk]:
    yield from first
    yield from rest
