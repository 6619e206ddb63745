"""One chat turn over HTTP: pick the question out of OpenAI messages, answer it in the session,
and shape the reply as an OpenAI completion (whole, or as stream chunks).

Two requests on one session must not both store turn ``n + 1`` (``SessionStore.append`` derives
the sequence number from the loaded session; ``turns`` has a unique ``(session_id, seq)``).
Within a process, a per-session lock serialises them; across processes (``--workers``), the
loser of the race hits the unique constraint and the whole turn is asked again.
"""

from __future__ import annotations

import random
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from finassist.assistant import Assistant, Reply
from finassist.serve.errors import ApiError
from finassist.serve.keys import Principal
from finassist.serve.metrics import count_tokens

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
APPEND_ATTEMPTS = 12
RETRY_BASE_SECONDS = 0.01
EXTRA_FIELD = "finassist"


@dataclass(frozen=True)
class ChatTurn:
    """An answered, stored turn: the reply, its sequence number and the question asked."""

    reply: Reply
    seq: int
    question: str

    def extra(self) -> dict[str, Any]:
        """The ``finassist`` field: evidence, recommendation, chart (no server paths), session."""
        data = self.reply.to_json()
        data.pop("text", None)
        if data.get("chart"):
            data["chart"] = {k: v for k, v in data["chart"].items() if k != "png_path"}
        data["turn_seq"] = self.seq
        return data


class SessionLocks:
    """One lock per session id, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, session_id: str | None) -> Iterator[None]:
        """Hold the session's lock (nothing to hold for a new session)."""
        if session_id is None:
            yield
            return
        with self._guard:
            lock, users = self._locks.get(session_id, (threading.Lock(), 0))
            self._locks[session_id] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[session_id]
                if users <= 1:
                    del self._locks[session_id]
                else:
                    self._locks[session_id] = (lock, users - 1)


def question_from(messages: list[Any], *, max_chars: int) -> str:
    """The last user message's text; a clear 400 when there is none or it is too long."""
    for message in reversed(messages):
        if message.role != "user":
            continue
        text = message.text()
        if len(text) > max_chars:
            raise ApiError(
                400,
                f"消息过长：{len(text):,} 个字符，上限为 {max_chars:,}。请精简问题后再发送。",
                code="message_too_long",
                param="messages",
            )
        return text
    raise ApiError(
        400, "messages 中没有用户消息（role 为 user）。", code="no_user_message", param="messages"
    )


def check_session_id(value: str | None) -> str | None:
    """A syntactically valid ``X-Session-Id`` or None; 400 for a malformed one."""
    if value is None or value == "":
        return None
    if not SESSION_ID.match(value):
        raise ApiError(
            400,
            "X-Session-Id 格式不正确：应为 1-64 位字母、数字、下划线或连字符。",
            code="invalid_session_id",
            param="X-Session-Id",
        )
    return value


class ChatService:
    """Answers questions for principals, one stored turn each, safely under concurrency."""

    def __init__(self, assistant: Assistant, locks: SessionLocks | None = None) -> None:
        self.assistant = assistant
        self.locks = locks or SessionLocks()

    def answer(self, principal: Principal, question: str, session_id: str | None) -> ChatTurn:
        """Ask in ``session_id`` (a new session when None) and return the stored turn."""
        with self.locks.hold(session_id):
            for attempt in range(APPEND_ATTEMPTS):
                try:
                    reply = self.assistant.ask(
                        question, manager_id=principal.manager_id, session_id=session_id
                    )
                    break
                except IntegrityError:
                    # Another process stored this sequence number first: ask again on top of it.
                    if attempt == APPEND_ATTEMPTS - 1:
                        raise
                    time.sleep(RETRY_BASE_SECONDS * (1 + attempt) * random.random())
        return ChatTurn(reply, reply.turn_id or 0, question)


# -- OpenAI shapes -----------------------------------------------------------------------------


def completion_id() -> str:
    """A fresh ``chatcmpl-`` id."""
    return f"chatcmpl-{uuid.uuid4().hex}"


def usage(prompt_text: str, answer: str) -> dict[str, int]:
    """Token counts (estimated offline, see :func:`count_tokens`)."""
    prompt, completion = count_tokens(prompt_text), count_tokens(answer)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def completion_body(turn: ChatTurn, model: str, prompt_text: str) -> dict[str, Any]:
    """A whole ``chat.completion`` with the ``finassist`` extra field."""
    return {
        "id": completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": turn.reply.text, "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": usage(prompt_text, turn.reply.text),
        EXTRA_FIELD: turn.extra(),
    }


def split_text(text: str, size: int) -> list[str]:
    """Stream pieces of about ``size`` characters; citation marks like ``[12]`` stay whole."""
    size = max(1, size)
    pieces: list[str] = []
    current = ""
    for token in re.findall(r"\[\d+\]|.", text, flags=re.S):
        current += token
        if len(current) >= size:
            pieces.append(current)
            current = ""
    if current:
        pieces.append(current)
    return pieces


def stream_chunks(
    turn: ChatTurn, model: str, prompt_text: str, *, chunk_chars: int, include_usage: bool
) -> list[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects of a streamed reply; the last carries the extra."""
    cid, created = completion_id(), int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": piece}) for piece in split_text(turn.reply.text, chunk_chars)]
    final = chunk({}, "stop")
    final[EXTRA_FIELD] = turn.extra()
    chunks.append(final)
    if include_usage:
        tail = chunk({})
        tail["choices"] = []
        tail["usage"] = usage(prompt_text, turn.reply.text)
        chunks.append(tail)
    return chunks
