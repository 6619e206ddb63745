"""Errors in the OpenAI error format: ``{"error": {"message", "type", "param", "code"}}``.

Every 4xx and 5xx the server sends has this shape, so the official SDK raises its usual
exceptions and a person reads a Chinese message that says what to change.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from finassist.errors import (
    AccessDenied,
    ConfigError,
    DatabaseUnavailable,
    FinassistError,
    InvalidInput,
    NotFound,
    SchemaVersionError,
)

log = logging.getLogger("finassist.serve")

# Exception class -> (status, OpenAI error type, code); the first match in order wins.
_FINASSIST_ERRORS: tuple[tuple[type[FinassistError], int, str, str], ...] = (
    (NotFound, 404, "invalid_request_error", "not_found"),
    (AccessDenied, 403, "permission_error", "access_denied"),
    (InvalidInput, 400, "invalid_request_error", "invalid_input"),
    (SchemaVersionError, 503, "server_error", "schema_version"),
    (DatabaseUnavailable, 503, "server_error", "database_unavailable"),
    (ConfigError, 500, "server_error", "config_error"),
)
_STATUS_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}
_STATUS_MESSAGES = {
    404: "接口不存在，请检查地址（OpenAI 兼容接口在 /v1，其余在 /api）。",
    405: "该接口不支持此请求方法。",
}


class BodyTooLarge(Exception):
    """The request body passed the size limit while it was being read."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


def too_large_message(limit: int) -> str:
    """The Chinese message for a body over ``limit`` bytes."""
    return f"请求体过大：上限为 {limit:,} 字节，请缩短内容或拆分后再发送。"


class ApiError(Exception):
    """An error to send as is: HTTP status, Chinese message, OpenAI ``code`` and ``param``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.headers = headers or {}


def error_body(status: int, message: str, code: str, param: str | None = None) -> dict[str, Any]:
    """The OpenAI error JSON."""
    kind = _STATUS_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_response(
    status: int,
    message: str,
    code: str,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A JSON response carrying :func:`error_body`."""
    return JSONResponse(error_body(status, message, code, param), status, headers=headers)


def _finassist_status(exc: FinassistError) -> tuple[int, str]:
    for cls, status, _kind, code in _FINASSIST_ERRORS:
        if isinstance(exc, cls):
            return status, code
    return 400, "invalid_input"


# pydantic error type -> Chinese message ({ctx} keys filled in); the type's prefix also matches.
_VALIDATION_TEXT = {
    "missing": "缺少此字段",
    "json_invalid": "不是合法的 JSON",
    "bool_type": "应为布尔值 true 或 false",
    "int_type": "应为整数",
    "float_type": "应为数字",
    "string_type": "应为字符串",
    "list_type": "应为数组",
    "dict_type": "应为对象",
    "model_type": "应为对象",
    "model_attributes_type": "应为对象",
    "greater_than_equal": "应不小于 {ge}",
    "greater_than": "应大于 {gt}",
    "less_than_equal": "应不大于 {le}",
    "less_than": "应小于 {lt}",
    "string_too_short": "长度应至少为 {min_length}",
    "string_too_long": "长度应不超过 {max_length}",
    "too_short": "至少需要 {min_length} 项",
    "too_long": "最多 {max_length} 项",
    "literal_error": "应为以下之一：{expected}",
    "string_pattern_mismatch": "格式不正确",
    "union_tag_invalid": "类型不正确",
}
# Parameters whose limits deserve their own words.
_PARAM_TEXT = {
    "n": "只支持 1（每次请求生成一个回答）",
    "temperature": "应在 0 到 2 之间",
    "stream": "应为布尔值 true 或 false",
    "max_tokens": "应为正整数",
    "max_completion_tokens": "应为正整数",
}


def _problem_text(error: dict[str, Any], where: str) -> str:
    if where in _PARAM_TEXT:
        return _PARAM_TEXT[where]
    kind = str(error.get("type", ""))
    template = _VALIDATION_TEXT.get(kind)
    if template is None:
        return "格式不正确"
    try:
        return template.format(**(error.get("ctx") or {}))
    except (KeyError, IndexError):
        return template.split("{")[0].strip() or "格式不正确"


def _union_member(part: str) -> bool:
    """A location part naming a union member's type (``str``, ``list[...]``, a model class)."""
    return (
        part in ("str", "int", "float", "bool", "none")
        or "[" in part
        or (part[:1].isupper() and "-" not in part)
    )


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    problems: list[str] = []
    param = None
    for e in exc.errors():
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path", "header")]
        # Union members (``str | list[...]``) add their type names to the location: drop them.
        loc = [p for p in loc if not _union_member(p)]
        where = ".".join(loc) or "请求体"
        param = param or (where if loc else None)
        problem = f"{where}：{_problem_text(e, where)}"
        if problem not in problems:
            problems.append(problem)
    return "请求格式不正确：" + "；".join(problems[:5]), param


def _body_too_large(exc: BaseException | None, depth: int = 0) -> BodyTooLarge | None:
    """The :class:`BodyTooLarge` behind ``exc`` (its cause, context or exception group)."""
    if exc is None or depth > 8:
        return None
    if isinstance(exc, BodyTooLarge):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _body_too_large(inner, depth + 1)
            if found is not None:
                return found
    return _body_too_large(exc.__cause__ or exc.__context__, depth + 1)


def error_of(exc: BaseException) -> dict[str, Any]:
    """The OpenAI error JSON for any exception, as the handlers below answer it (for an error
    that happens after a stream began, when no status can be sent any more)."""
    if isinstance(exc, ApiError):
        return error_body(exc.status, exc.message, exc.code, exc.param)
    if isinstance(exc, FinassistError):
        status, code = _finassist_status(exc)
        return error_body(status, str(exc), code)
    log.error("unexpected error in a stream", exc_info=exc)
    return error_body(500, "服务器内部错误，已记录日志，请稍后重试或联系管理员。", "internal")


def error_response_of(exc: Exception) -> JSONResponse:
    """The response the handlers below give ``exc``, for an error met outside a route (a
    streamed turn that fails before its first sentence)."""
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.message, exc.code, exc.param, exc.headers)
    if isinstance(exc, FinassistError):
        status, code = _finassist_status(exc)
        return error_response(status, str(exc), code)
    log.error("unexpected error before a stream began", exc_info=exc)
    return error_response(500, "服务器内部错误，已记录日志，请稍后重试或联系管理员。", "internal")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into the OpenAI error format."""

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.code, exc.param, exc.headers)

    @app.exception_handler(FinassistError)
    async def _finassist_error(_request: Request, exc: FinassistError) -> JSONResponse:
        status, code = _finassist_status(exc)
        return error_response(status, str(exc), code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = _validation_message(exc)
        return error_response(400, message, "invalid_request", param)

    @app.exception_handler(BodyTooLarge)
    async def _too_large(_request: Request, exc: BodyTooLarge) -> JSONResponse:
        return error_response(413, too_large_message(exc.limit), "request_too_large")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        too_large = _body_too_large(exc)  # raised while FastAPI parsed the body
        if too_large is not None:
            return await _too_large(_request, too_large)
        message = _STATUS_MESSAGES.get(exc.status_code) or str(exc.detail)
        headers = dict(exc.headers or {})  # 405 carries Allow
        return error_response(exc.status_code, message, f"http_{exc.status_code}", headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(
            500, "服务器内部错误，已记录日志，请稍后重试或联系管理员。", "internal"
        )


# -- the OpenAPI document -----------------------------------------------------------------------

ERROR_SCHEMA: dict[str, Any] = {
    "title": "ErrorResponse",
    "description": "OpenAI 格式的错误：message 为中文说明，code 为机器可读的错误码。",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}
_ERROR_TEXT = {
    "400": "请求参数不正确（含无效的 Unicode 文本、过长的消息、不支持的参数）",
    "401": "缺少或无效的 API 密钥",
    "403": "权限不足（如需要管理员密钥）",
    "404": "资源不存在或不属于当前客户经理",
    "409": "相同 Idempotency-Key 的请求仍在处理中",
    "413": "请求体过大",
    "429": "请求过于频繁",
    "500": "服务器内部错误",
    "501": "知识库未启用",
    "502": "上游模型调用失败",
    "503": "数据库或模型暂不可用",
}
SSE_EVENT_SCHEMA: dict[str, Any] = {
    "description": "一条服务器推送事件：data 为 JSON 的 chat.completion.chunk，最后一条为 [DONE]。",
    "type": "object",
    "required": ["data"],
    "properties": {"data": {"type": "string"}, "event": {"type": "string"}},
}
_RETRY_AFTER = {"Retry-After": {"description": "建议的重试等待秒数", "schema": {"type": "string"}}}


def _error_statuses(path: str, operation: dict[str, Any]) -> list[str]:
    statuses = ["404", "500", "503"]
    if operation.get("parameters") or operation.get("requestBody"):
        statuses.append("400")
    if operation.get("requestBody"):
        statuses.append("413")
    if operation.get("security"):
        statuses += ["401", "403", "429"]
    if path.startswith("/api/kb"):
        statuses.append("501")
    if path == "/v1/chat/completions":
        statuses += ["409", "502"]
    return sorted(set(statuses))


def openapi_document(app: FastAPI, *, max_message_chars: int | None = None) -> dict[str, Any]:
    """FastAPI's document, corrected to what the server sends: every error in the OpenAI
    format with its body, no 422 (validation errors are 400), streamed chat completions as
    ``text/event-stream``, and the server's message limit (``max_message_chars``, the number
    ``GET /api/me`` reports and the chat endpoint enforces)."""
    from fastapi.openapi.utils import get_openapi

    doc = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas["ErrorResponse"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/ErrorResponse"}
    for path, item in doc.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            responses.pop("422", None)
            for status in _error_statuses(path, operation):
                response: dict[str, Any] = {
                    "description": _ERROR_TEXT[status],
                    "content": {"application/json": {"schema": ref}},
                }
                if status in ("429", "503", "409"):
                    response["headers"] = _RETRY_AFTER
                responses.setdefault(status, response)
            if path == "/v1/chat/completions" and method == "post":
                content = responses["200"].setdefault("content", {})
                content["text/event-stream"] = {"schema": SSE_EVENT_SCHEMA}
    if max_message_chars is not None and "ChatRequest" in schemas:
        _advertise_message_limit(schemas["ChatRequest"], max_message_chars)
    return doc


def _advertise_message_limit(schema: dict[str, Any], limit: int) -> None:
    """State the configured limit where a client reads the request body (the model's docstring
    cannot: the number is a setting)."""
    schema["x-max-message-chars"] = limit
    messages = schema.get("properties", {}).get("messages")
    if messages is not None:
        messages["description"] = (
            f"对话消息。模型 finassist 的每条用户消息最多 {limit:,} 字"
            "（服务器设置 max_message_chars，超出返回 400 message_too_long）。"
        )


def install_openapi(app: FastAPI, *, max_message_chars: int | None = None) -> None:
    """Serve :func:`openapi_document` at ``/openapi.json`` (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_document(app, max_message_chars=max_message_chars)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def reject_unknown_query(request: Request) -> None:
    """400 for a query parameter the route does not take (a typo such as ``?limt=5`` would
    otherwise be ignored silently). An app-wide dependency."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None or not request.query_params:
        return
    known = _query_names(dependant)
    unknown = [name for name in request.query_params if name not in known]
    if unknown:
        allowed = "、".join(sorted(known)) or "无"
        raise ApiError(
            400,
            f"不支持的查询参数：{unknown[0][:64]}。该接口接受的查询参数：{allowed}。",
            code="unknown_parameter",
            param=unknown[0][:64],
        )


def _query_names(dependant: Any) -> set[str]:
    names = {p.alias for p in getattr(dependant, "query_params", ())}
    for sub in getattr(dependant, "dependencies", ()):
        names |= _query_names(sub)
    return names
