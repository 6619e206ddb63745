"""Request body limits, as pure ASGI middleware (they see the bytes before any parsing): size,
and valid Unicode in JSON bodies.

A declared ``Content-Length`` over the limit is refused at once; a chunked body is counted as
it arrives and refused when it passes the limit. Either way: 413 in the OpenAI error format.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from finassist.serve.errors import BodyTooLarge, error_body, too_large_message

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UPLOAD_PATH_PREFIX = "/api/kb/documents"


class BodySizeLimit:
    """Refuse bodies over ``max_body_bytes`` (``max_upload_bytes`` for KB uploads)."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        limit = (
            self.max_upload_bytes if path.startswith(UPLOAD_PATH_PREFIX) else self.max_body_bytes
        )
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _send_413(send, limit)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_413(send: Send, limit: int) -> None:
    data = error_body(413, too_large_message(limit), "request_too_large")
    await _send_json(send, 413, data, close=True)


# A UTF-16 surrogate written as a JSON escape: legal JSON, but not a character. A lone one
# cannot be stored or encoded; a pair (an emoji written as two escapes) is decoded into one.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class UnicodeGuard:
    """Refuse a JSON body that is not valid UTF-8 or holds a lone surrogate (``"\\ud800"``)
    with 400, before any route reads it (so nothing is stored). Multipart uploads pass; the
    body is already bounded by :class:`BodySizeLimit` outside this one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        try:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    break
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        except BodyTooLarge as exc:
            await _send_413(send, exc.limit)
            return
        body = b"".join(chunks)
        problem = unicode_problem(body)
        if problem is not None:
            message_text, param = problem
            await _send_json(send, 400, error_body(400, message_text, "invalid_unicode", param))
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def unicode_problem(body: bytes) -> tuple[str, str | None] | None:
    """Why ``body`` is not valid Unicode text (message, JSON path), or None."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"请求体不是合法的 UTF-8 文本（第 {exc.start} 个字节起）。", None
    if not _SURROGATE_ESCAPE.search(body):
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None  # not JSON: the route reports that
    path = _lone_surrogate(data, "")
    if path is None:
        return None
    where = path or "请求体"
    return (
        f"{where} 含有无效的 Unicode 字符（单独的代理项，如 \\ud800），请检查文本编码。",
        path or None,
    )


def _lone_surrogate(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if _lone_surrogate(key, path) is not None:
                return f"{path}（字段名）" if path else "字段名"
            found = _lone_surrogate(item, f"{path}.{key}".lstrip("."))
            if found is not None:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _lone_surrogate(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return b"json" in value.lower()
    return scope.get("method") in ("POST", "PUT", "PATCH")  # untyped bodies are read as JSON


async def _send_json(send: Send, status: int, data: dict[str, Any], *, close: bool = False) -> None:
    body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
