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
from finassist.assistant.session import Session, SessionStore
from finassist.errors import AccessDenied
from finassist.serve.errors import ApiError
from finassist.serve.history import HistoryIndex, stored_texts
from finassist.serve.keys import Principal
from finassist.serve.metrics import count_tokens

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
APPEND_ATTEMPTS = 12
RETRY_BASE_SECONDS = 0.01
EXTRA_FIELD = "finassist"
ADMIN_WRITE_REFUSED = (
    "管理员不能在客户经理 {owner} 的会话中提问：答案按管理员的权限计算，不能存入该经理可读的会话。"
    "请不带会话编号（X-Session-Id）提问，将新建管理员自己的会话。"
)


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
    """Answers questions for principals, one stored turn each, safely under concurrency.

    The conversation is the session named by ``X-Session-Id``, else the stored session the
    resent ``history`` belongs to (see ``serve/history.py``), else a new one (rebuilt from the
    history when there is one).
    """

    def __init__(self, assistant: Assistant, locks: SessionLocks | None = None) -> None:
        self.assistant = assistant
        self.locks = locks or SessionLocks()
        self.index = HistoryIndex(assistant.db, assistant.sessions)

    def answer(
        self,
        principal: Principal,
        question: str,
        session_id: str | None = None,
        history: list[tuple[str, str]] | None = None,
    ) -> ChatTurn:
        """Ask in ``session_id`` (else the session of ``history``, else a new one)."""
        history = history or []
        expected: int | None = None  # turns a history-matched session must still have
        if session_id is None and history:
            found = self.index.find(principal.manager_id, history)
            session_id = found.id if found is not None else None
            expected = len(stored_texts(history))
        with self.locks.hold(session_id):
            for attempt in range(APPEND_ATTEMPTS):
                session = self._session(principal, session_id, history, expected)
                try:
                    reply = self.assistant.ask(
                        question, manager_id=principal.manager_id, session=session
                    )
                    break
                except IntegrityError:
                    # Another process stored this sequence number first: ask again on top of it.
                    if attempt == APPEND_ATTEMPTS - 1:
                        raise
                    time.sleep(RETRY_BASE_SECONDS * (1 + attempt) * random.random())
        return ChatTurn(reply, reply.turn_id or session.turn_count, question)

    def _session(
        self,
        principal: Principal,
        session_id: str | None,
        history: list[tuple[str, str]],
        expected: int | None,
    ) -> Session:
        if session_id is not None:
            session = self.assistant.sessions.load(
                session_id, principal.manager_id, is_admin=principal.is_admin
            )
            if session.manager_id != principal.manager_id:
                # An admin may read a manager's conversation, but answers computed with the
                # admin's scope must never be stored where that manager can read them.
                raise AccessDenied(ADMIN_WRITE_REFUSED.format(owner=session.manager_id))
            # A resent history must still be the whole session (no turn added meanwhile).
            if expected is None or session.turn_count == expected:
                return session
        if history:
            return self.assistant.resume(history, manager_id=principal.manager_id)
        return SessionStore.new(principal.manager_id)


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


def completion_body(
    turn: ChatTurn,
    model: str,
    prompt_text: str,
    *,
    content: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A whole ``chat.completion`` with the ``finassist`` extra field.

    ``content`` replaces the reply's text (JSON for ``response_format``, the text with its
    source list); ``tool_calls`` answers as a call of the client's forced function.
    """
    text = turn.reply.text if content is None else content
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if tool_calls:
        message["content"] = None
        message["tool_calls"] = tool_calls
    return {
        "id": completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if tool_calls else "stop",
                "logprobs": None,
            }
        ],
        "usage": usage(prompt_text, text),
        EXTRA_FIELD: turn.extra(),
    }


def stream_chunks(body: dict[str, Any], *, include_usage: bool) -> list[dict[str, Any]]:
    """A whole completion (:func:`completion_body`) as ``chat.completion.chunk`` objects.

    The finished reply goes in one piece (it is not chopped into made-up tokens); the final
    chunk carries the finish reason and the ``finassist`` extra, then the usage if asked.
    """
    choice = body["choices"][0]
    message = choice["message"]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": body["id"],
            "object": "chat.completion.chunk",
            "created": body["created"],
            "model": body["model"],
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    chunks = [chunk({"role": "assistant", "content": ""})]
    if message.get("tool_calls"):
        calls = [{"index": i, **c} for i, c in enumerate(message["tool_calls"])]
        chunks.append(chunk({"tool_calls": calls}))
    elif message.get("content"):
        chunks.append(chunk({"content": message["content"]}))
    final = chunk({}, choice["finish_reason"])
    if EXTRA_FIELD in body:
        final[EXTRA_FIELD] = body[EXTRA_FIELD]
    chunks.append(final)
    if include_usage:
        tail = chunk({})
        tail["choices"] = []
        tail["usage"] = body["usage"]
        chunks.append(tail)
    return chunks
