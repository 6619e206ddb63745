"""``/v1/models`` and ``/v1/chat/completions``, compatible with the official openai SDK.

The assistant is model ``finassist``; every model configured in ``[finassist.models]`` can also
be called by its name, with the messages passed through to it (see ``serve/passthrough.py``).
For ``finassist``, the question is the last user message; the conversation's
memory lives on the server: in the session named by the ``X-Session-Id`` header, else in the
stored session the resent history in ``messages`` belongs to (unchanged OpenAI SDK and
LangChain clients), else a new one; every reply returns that header. Evidence, the
recommendation JSON and the chart travel in the extra field ``finassist`` of the completion (or
of the final stream chunk); ``finassist_sources`` (or the header ``X-Finassist-Sources: true``)
also appends a numbered source list to the text. ``response_format`` (json_object /
json_schema) returns the structured reply as JSON; an ``Idempotency-Key`` header makes retries
safe. Parameters the assistant cannot honour (its own ``tools``, ``n`` > 1) get a 400.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

from finassist.llm import ChatBackend
from finassist.serve.chat import (
    EXTRA_FIELD,
    ChatTurn,
    check_session_id,
    completion_body,
    stream_chunks,
)
from finassist.serve.errors import ApiError
from finassist.serve.history import conversation_from
from finassist.serve.idempotency import HEADER as IDEMPOTENCY_HEADER
from finassist.serve.idempotency import KEY_PATTERN, IdempotencyStore, check_key, fingerprint
from finassist.serve.keys import Principal
from finassist.serve.options import MODEL_NAME
from finassist.serve.passthrough import (
    check_prompt_size,
    complete,
    start_stream,
    to_messages,
)
from finassist.serve.state import Caller, ServerState, get_state
from finassist.serve.streaming import LiveStreamResponse, TurnStream
from finassist.serve.structured import SchemaPlan, sources_block, structured_reply

router = APIRouter(tags=["OpenAI 兼容接口"])
CREATED_AT = 1_767_225_600  # 2026-01-01, the model's fixed "created" stamp
SESSION_HEADER = "X-Session-Id"
SOURCES_HEADER = "X-Finassist-Sources"
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})


def _json_int(value: Any) -> Any:
    """An integer as JSON Schema means it (``3`` or ``3.0``); not a string nor a boolean."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("not an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("not an integer")
        return int(value)
    return value


PositiveInt = Annotated[int, Field(ge=1), BeforeValidator(_json_int)]
OnlyOne = Annotated[int, Field(ge=1, le=1), BeforeValidator(_json_int)]


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
    include_usage: StrictBool = False


class JsonSchemaSpec(BaseModel):
    """``response_format.json_schema``: a name and the JSON Schema of the reply."""

    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1, max_length=64)
    description: str | None = None
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    strict: StrictBool | None = None


class ResponseFormat(BaseModel):
    """OpenAI ``response_format``: ``text``, ``json_object`` or ``json_schema``."""

    model_config = ConfigDict(extra="allow")
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaSpec | None = None


class NamedFunction(BaseModel):
    """The function a ``tool_choice`` forces."""

    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1, max_length=128)


class NamedToolChoice(BaseModel):
    """``tool_choice: {"type": "function", "function": {"name": ...}}``."""

    model_config = ConfigDict(extra="allow")
    type: Literal["function"] = "function"
    function: NamedFunction


class ChatRequest(BaseModel):
    """The body of ``POST /v1/chat/completions``.

    ``n`` must be 1, ``max_tokens`` positive, ``temperature`` within 0-2, ``stream`` a boolean.
    For ``finassist`` the user messages may have up to the server's message limit
    (``max_message_chars``, see ``GET /api/me``) characters each; sampling parameters are
    checked and otherwise ignored (the answer is grounded, not sampled).
    """

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=128, examples=[MODEL_NAME])
    messages: list[ChatMessage] = Field(min_length=1)
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    tools: list[ToolSpec] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    response_format: ResponseFormat | None = None
    n: OnlyOne | None = Field(None, description="只支持 1")
    max_tokens: PositiveInt | None = None
    max_completion_tokens: PositiveInt | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    finassist_sources: StrictBool = Field(
        False,
        description="在回答文本末尾附上编号的来源列表（也可用请求头 X-Finassist-Sources: true）",
    )

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
    idempotency_key: str | None = Header(
        None,
        alias=IDEMPOTENCY_HEADER,
        pattern=KEY_PATTERN.pattern,
        description="重试安全：同一键只存一轮",
    ),
    x_finassist_sources: str | None = Header(None, alias=SOURCES_HEADER, max_length=16),
) -> JSONResponse | StreamingResponse | LiveStreamResponse:
    """``finassist``: answer the last user message in the conversation; a configured model:
    pass the messages through to it. Whole or streamed (server-sent events)."""
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
    _check_tool_choice(body)
    if backend is not None:
        return _pass_through(body, backend, state)
    plan, forced = _output_plan(body)
    conversation = conversation_from(body.messages, max_chars=state.options.max_message_chars)
    session_id = check_session_id(x_session_id)
    key = check_key(idempotency_key)
    sources = body.finassist_sources or (x_finassist_sources or "").lower() in TRUE_WORDS
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    store = IdempotencyStore(state.db)
    if key is not None:
        request_hash = fingerprint(
            {
                "body": body.model_dump(mode="json", by_alias=True),
                "session": session_id,
                "sources": sources,
            }
        )
        stored = store.claim(principal.key_id, key, request_hash)
        if stored is not None:
            return _respond(stored["body"], stored["headers"], body.stream, include_usage)

    def answer() -> dict[str, Any]:
        """Answer, store, and record the completion under the idempotency key."""
        try:
            whole = _answer(state, principal, body, conversation, session_id, plan, forced, sources)
        except BaseException:
            if key is not None:
                store.release(principal.key_id, key)
            raise
        if key is not None:
            headers = {SESSION_HEADER: whole[EXTRA_FIELD]["session_id"]}
            store.finish(principal.key_id, key, {"body": whole, "headers": headers})
        return whole

    if body.stream and plan is None and _is_text(body) and state.assistant.backend is not None:
        return _stream_live(answer, include_usage)  # a model writes it: stream as it is written
    whole = answer()
    headers = {SESSION_HEADER: whole[EXTRA_FIELD]["session_id"]}
    return _respond(whole, headers, body.stream, include_usage)


def _is_text(body: ChatRequest) -> bool:
    return body.response_format is None or body.response_format.type == "text"


def _stream_live(answer: Callable[[], dict[str, Any]], include_usage: bool) -> LiveStreamResponse:
    """Stream a model turn sentence by sentence (``serve/streaming.py``); an error before the
    first sentence is still an HTTP error. Returns at once: the turn is awaited on the event
    loop, so no pool thread waits for the model."""
    return LiveStreamResponse(
        TurnStream(answer),
        model=MODEL_NAME,
        include_usage=include_usage,
        session_header=SESSION_HEADER,
    )


def _answer(
    state: ServerState,
    principal: Principal,
    body: ChatRequest,
    conversation: Any,
    session_id: str | None,
    plan: SchemaPlan | None,
    forced: str | None,
    sources: bool,
) -> dict[str, Any]:
    """Ask the assistant and shape the completion (text, JSON or a forced function call)."""
    start = time.perf_counter()
    try:
        turn = state.chat.answer(principal, conversation.question, session_id, conversation.history)
    except Exception as exc:
        state.metrics.chat_errors.labels(MODEL_NAME, type(exc).__name__).inc()
        raise
    whole = _shape(turn, body, plan, forced, sources, conversation.question)
    state.metrics.record_chat(
        MODEL_NAME,
        stream=body.stream,
        seconds=time.perf_counter() - start,
        prompt=whole["usage"]["prompt_tokens"],
        completion=whole["usage"]["completion_tokens"],
    )
    return whole


def _shape(
    turn: ChatTurn,
    body: ChatRequest,
    plan: SchemaPlan | None,
    forced: str | None,
    sources: bool,
    question: str,
) -> dict[str, Any]:
    fmt = body.response_format.type if body.response_format else "text"
    if forced is not None and plan is not None:
        arguments = json.dumps(plan.fill(structured_reply(turn.reply)), ensure_ascii=False)
        call = {
            "id": f"call_{turn.reply.session_id[:8]}_{turn.seq}",
            "type": "function",
            "function": {"name": forced, "arguments": arguments},
        }
        return completion_body(turn, MODEL_NAME, question, tool_calls=[call])
    if fmt == "json_object":
        content = json.dumps(structured_reply(turn.reply), ensure_ascii=False)
    elif plan is not None:
        content = json.dumps(plan.fill(structured_reply(turn.reply)), ensure_ascii=False)
    else:
        content = turn.reply.text + (sources_block(turn.reply) if sources else "")
    return completion_body(turn, MODEL_NAME, question, content=content)


def _respond(
    whole: dict[str, Any], headers: dict[str, str], stream: bool, include_usage: bool
) -> JSONResponse | StreamingResponse:
    if not stream:
        return JSONResponse(whole, headers=headers)
    return StreamingResponse(
        _sse(stream_chunks(whole, include_usage=include_usage)),
        media_type="text/event-stream",
        headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _check_tool_choice(body: ChatRequest) -> None:
    if body.tool_choice is not None and body.tool_choice != "none" and not body.tools:
        raise ApiError(
            400,
            "只有提供了 tools 时才能设置 tool_choice。",
            code="invalid_tool_choice",
            param="tool_choice",
        )
    if isinstance(body.tool_choice, NamedToolChoice):
        names = [t.function.name for t in body.tools or []]
        if body.tool_choice.function.name not in names:
            raise ApiError(
                400,
                f"tool_choice 指定的函数 {body.tool_choice.function.name[:64]} 不在 tools 中。",
                code="invalid_tool_choice",
                param="tool_choice",
            )


def _output_plan(body: ChatRequest) -> tuple[SchemaPlan | None, str | None]:
    """How the assistant's reply is shaped: the schema plan and the forced function, if any.

    The assistant runs its own data tools only: a request's own ``tools`` are refused unless
    ``tool_choice`` is ``none`` (they are then unused) or forces one function whose parameters
    the structured reply can fill (LangChain's ``with_structured_output``)."""
    fmt = body.response_format
    if fmt is not None and fmt.type == "json_schema" and fmt.json_schema is None:
        raise ApiError(
            400,
            "response_format 为 json_schema 时需要提供 json_schema（name 与 schema）。",
            code="invalid_response_format",
            param="response_format.json_schema",
        )
    if body.tools and body.tool_choice != "none":
        if isinstance(body.tool_choice, NamedToolChoice):
            name = body.tool_choice.function.name
            spec = next(t for t in body.tools if t.function.name == name)
            plan = SchemaPlan.of(spec.function.parameters or {}, param="tools")
            return plan, name
        names = "、".join(t.function.name[:64] for t in body.tools[:5])
        raise ApiError(
            400,
            f"finassist 助手不能调用请求自带的工具（{names}）：它只用自己的数据查询工具作答"
            + ("，无法满足 tool_choice=required" if body.tool_choice == "required" else "")
            + "。请去掉 tools（或设 tool_choice 为 none）；需要结构化结果请用 response_format。",
            code="tools_not_supported",
            param="tool_choice" if body.tool_choice == "required" else "tools",
        )
    if fmt is not None and fmt.type == "json_schema" and fmt.json_schema is not None:
        return SchemaPlan.of(fmt.json_schema.schema_, param="response_format.json_schema"), None
    return None, None


def _sse(chunks: list[dict[str, Any]]) -> Iterator[str]:
    for chunk in chunks:
        yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
    yield "data: [DONE]\n\n"


def _pass_through(
    body: ChatRequest, backend: ChatBackend, state: ServerState
) -> JSONResponse | StreamingResponse:
    """Send the messages (and ``tools``) to the configured model ``body.model``."""
    if body.response_format is not None and body.response_format.type != "text":
        raise ApiError(
            400,
            f"模型 {body.model} 直连时不支持 response_format={body.response_format.type}；"
            f"需要 JSON 结果请使用模型 {MODEL_NAME}。",
            code="unsupported_response_format",
            param="response_format",
        )
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
