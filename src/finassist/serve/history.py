"""Conversation memory for stateless clients: the history a client resends in ``messages``.

An unchanged OpenAI SDK or LangChain client keeps no ``X-Session-Id``; it sends the whole
conversation every time. The server maps that history to the caller's stored session whose
turns are exactly those earlier user messages (the newest such session), and answers there. A
history no stored session matches (edited, forked, or from another system) is replayed: a new
session whose memory is rebuilt from the earlier messages and which stores them, as imported
turns, together with the new one. Either way the next request of the same conversation maps
to that session, and no turn is stored twice.

System and developer messages are the client's own instructions and are not part of the
conversation memory; the assistant answers under its own rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from finassist.assistant.session import Session, SessionStore
from finassist.nlp.normalize import normalize_text
from finassist.serve.errors import ApiError
from finassist.store import Database
from finassist.store.schema import sessions, turns

MAX_CANDIDATES = 20


@dataclass(frozen=True)
class Conversation:
    """The question (the last user message) and the exchanges before it."""

    question: str
    history: list[tuple[str, str]]  # (user message, the reply the client holds)


def conversation_from(messages: list[Any], *, max_chars: int) -> Conversation:
    """Split OpenAI ``messages`` into the question and the earlier (user, reply) exchanges.

    400 when there is no user message or a user message is longer than ``max_chars``. A user
    message with no reply after it is kept with an empty reply; replies before the first user
    message (a greeting the client shows) are not part of the exchanges.
    """
    last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=None)
    if last_user is None:
        raise ApiError(
            400,
            "messages 中没有用户消息（role 为 user）。",
            code="no_user_message",
            param="messages",
        )
    history: list[tuple[str, str]] = []
    pending: str | None = None
    for index, message in enumerate(messages[: last_user + 1]):
        if message.role not in ("user", "assistant"):
            continue
        text = message.text()
        if message.role == "user":
            _check_length(text, index, max_chars)
            if pending is not None:
                history.append((pending, ""))
            pending = text
        elif pending is not None:
            history.append((pending, text))
            pending = None
    assert pending is not None  # the last user message
    return Conversation(pending, history)


def _check_length(text: str, index: int, max_chars: int) -> None:
    if len(text) > max_chars:
        raise ApiError(
            400,
            f"消息过长：messages[{index}] 有 {len(text):,} 个字符，上限为 {max_chars:,}。"
            "请精简问题后再发送。",
            code="message_too_long",
            param=f"messages[{index}].content",
        )


def stored_texts(history: list[tuple[str, str]]) -> list[str]:
    """The history's user messages as they are stored (normalised; blank ones are not)."""
    return [text for user, _reply in history if (text := normalize_text(user))]


class HistoryIndex:
    """Finds the stored session a resent history belongs to."""

    def __init__(self, db: Database, store: SessionStore) -> None:
        self.db = db
        self.store = store

    def find(self, manager_id: str, history: list[tuple[str, str]]) -> Session | None:
        """The caller's newest session whose turns are exactly ``history``'s user messages."""
        texts = stored_texts(history)
        if not texts:
            return None
        query = (
            select(sessions.c.id)
            .join(turns, turns.c.session_id == sessions.c.id)
            .where(
                sessions.c.manager_id == manager_id,
                turns.c.seq == len(texts),
                turns.c.user_text == texts[-1],
            )
            .order_by(sessions.c.updated_at.desc())
            .limit(MAX_CANDIDATES)
        )
        with self.db.read() as conn:
            candidates = list(conn.execute(query).scalars())
        for session_id in candidates:
            if [t.user_text for t in self.store.history(session_id)] == texts:
                return self.store.load(session_id, manager_id)
        return None
