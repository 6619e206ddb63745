"""``/v1/models`` and ``/v1/chat/completions``, compatible with the official openai SDK.

The assistant is model ``finassist``; every model configured in ``[finassist.models]`` can also
be called by its name, with the messages passed through to it (see ``serve/passthrough.py``).
For ``finassist``, the question is the last user message; the conversation's
memory lives on the server, in the session named by the ``X-Session-Id`` header (a new session
when absent), and every reply returns that header. Evidence, the recommendation JSON and the
chart travel in the extra field ``finassist`` of the completion (or of the final stream chunk).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from finassist.llm import ChatBackend
from finassist.serve.chat import check_session_id, completion_body, question_from, stream_chunks
from finassist.serve.errors import ApiError
from finassist.serve.options import MODEL_NAME
from finassist.serve.passthrough import (
    check_prompt_size,
    complete,
    start_stream,
    to_messages,
)
from finassist.serve.state import Caller, ServerState, get_state

router = APIRouter(tags=["OpenAI 兼容接口"])
CREATED_AT = 1_767_225_600  # 2026-01-01, the model's fixed "created" stamp
SESSION_HEADER = "X-Session-Id"


class ContentPart(BaseModel):
    """One part of a multi-part message; only ``text`` parts are read."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(max_length=64)
    text: str | None = None


class FunctionCall(BaseModel):
    """The function of a tool call: its name and the JSON arguments (text, as OpenAI sends)."""

    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1, max_length=128)
    arguments: str | dict[str, Any] = "{}"


class ToolCallIn(BaseModel):
    """A tool call an assistant message made earlier in the conversation."""

    model_config = ConfigDict(extra="allow")
    id: str | None = Field(None, max_length=128)
    type: str = Field("function", max_length=32)
    function: FunctionCall


class FunctionSpec(BaseModel):
    """A function the model may call (JSON Schema ``parameters``)."""

    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1, max_length=128)
    description: str | None = None
    parameters: dict[str, Any] | None = None


class ToolSpec(BaseModel):
    """An OpenAI tool: ``{"type": "function", "function": {...}}``."""

    model_config = ConfigDict(extra="allow")
    type: str = Field("function", max_length=32)
    function: FunctionSpec


class ChatMessage(BaseModel):
    """An OpenAI chat message (tool calls and results are passed to configured models)."""

    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = Field(None, max_length=128)
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = Field(None, max_length=128)

    def text(self) -> str:
        """The message's text (text parts joined)."""
        if isinstance(self.content, str):
            return self.content
        if not self.content:
            return ""
        return "".join(p.text or "" for p in self.content if p.type == "text")


class StreamOptions(BaseModel):
    """OpenAI ``stream_options``."""

    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatRequest(BaseModel):
    """The body of ``POST /v1/chat/completions``; sampling parameters are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=128, examples=[MODEL_NAME])
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    tools: list[ToolSpec] | None = None

    def tool_schemas(self) -> list[dict[str, Any]] | None:
        """``tools`` as plain OpenAI function schemas (None when there are none)."""
        if not self.tools:
            return None
        return [t.model_dump(exclude_none=True) for t in self.tools]


def _model_card(model: str, owner: str = "finassist") -> dict[str, Any]:
    return {"id": model, "object": "model", "created": CREATED_AT, "owned_by": owner}


def _cards(state: ServerState) -> list[dict[str, Any]]:
    return [_model_card(MODEL_NAME)] + [
        _model_card(name, "finassist-config") for name in state.models.names()
    ]


@router.get("/v1/models")
def list_models(request: Request, _principal: Caller) -> dict[str, Any]:
    """The models this server answers as: the assistant and every configured model."""
    return {"object": "list", "data": _cards(get_state(request))}


@router.get("/v1/models/{model}")
def get_model(model: str, request: Request, _principal: Caller) -> dict[str, Any]:
    """One model, or 404."""
    for card in _cards(get_state(request)):
        if card["id"] == model:
            return card
    raise _unknown_model(model, get_state(request))


def _unknown_model(model: str, state: ServerState) -> ApiError:
    known = "、".join([MODEL_NAME, *state.models.names()])
    return ApiError(
        404,
        f"模型 {model[:64]} 不存在。可用模型：{known}（见 GET /v1/models）。",
        code="model_not_found",
        param="model",
    )


@router.post("/v1/chat/completions", response_model=None)
def chat_completions(
    body: ChatRequest,
    request: Request,
    principal: Caller,
    x_session_id: str | None = Header(None, alias=SESSION_HEADER, max_length=200),
) -> JSONResponse | StreamingResponse:
    """``finassist``: answer the last user message in the session; a configured model: pass the
    messages through to it. Whole or streamed (server-sent events)."""
    state = get_state(request)
    backend = state.models.get(body.model) if body.model != MODEL_NAME else None
    if body.model != MODEL_NAME and backend is None:
        raise _unknown_model(body.model, state)
    if len(body.messages) > state.options.max_messages:
        raise ApiError(
            400,
            f"messages 过多：{len(body.messages)} 条，上限 {state.options.max_messages} 条。",
            code="too_many_messages",
            param="messages",
        )
    if backend is not None:
        return _pass_through(body, backend, state)
    question = question_from(body.messages, max_chars=state.options.max_message_chars)
    session_id = check_session_id(x_session_id)
    start = time.perf_counter()
    try:
        turn = state.chat.answer(principal, question, session_id)
    except Exception as exc:
        state.metrics.chat_errors.labels(MODEL_NAME, type(exc).__name__).inc()
        raise
    headers = {SESSION_HEADER: turn.reply.session_id}
    whole = completion_body(turn, MODEL_NAME, question)
    state.metrics.record_chat(
        MODEL_NAME,
        stream=body.stream,
        seconds=time.perf_counter() - start,
        prompt=whole["usage"]["prompt_tokens"],
        completion=whole["usage"]["completion_tokens"],
    )
    if not body.stream:
        return JSONResponse(whole, headers=headers)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    chunks = stream_chunks(
        turn,
        MODEL_NAME,
        question,
        chunk_chars=state.options.stream_chunk_chars,
        include_usage=include_usage,
    )
    return StreamingResponse(
        _sse(chunks),
        media_type="text/event-stream",
        headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _sse(chunks: list[dict[str, Any]]) -> Iterator[str]:
    for chunk in chunks:
        yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
    yield "data: [DONE]\n\n"


def _pass_through(
    body: ChatRequest, backend: ChatBackend, state: ServerState
) -> JSONResponse | StreamingResponse:
    """Send the messages (and ``tools``) to the configured model ``body.model``."""
    messages = to_messages(body.messages)
    check_prompt_size(messages, state.options.max_prompt_chars)
    tools = body.tool_schemas()
    if not body.stream:
        return JSONResponse(complete(body.model, backend, messages, tools, state.metrics))
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    events = start_stream(
        body.model, backend, messages, tools, state.metrics, include_usage=include_usage
    )
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
