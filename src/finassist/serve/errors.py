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


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    problems = []
    param = None
    for e in exc.errors():
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path", "header")]
        where = ".".join(loc) or "请求体"
        param = param or (where if loc else None)
        problems.append(f"{where}：{e.get('msg', '格式不正确')}")
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
        return error_response(exc.status_code, message, f"http_{exc.status_code}")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(
            500, "服务器内部错误，已记录日志，请稍后重试或联系管理员。", "internal"
        )
