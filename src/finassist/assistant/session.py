"""Sessions and turns in the database: a conversation can be resumed by id.

A session belongs to one relationship manager; another manager asking for it gets the same
"not found" as for an id that does not exist. A turn and the session's new state are written in
one transaction, so a crash never leaves a turn without its state or the other way round.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from finassist.errors import NotFound
from finassist.finance.base import jsonable
from finassist.store import Database
from finassist.store.schema import ratings, sessions, turns

MAX_REMEMBERED_ENTERPRISES = 5


@dataclass
class SessionState:
    """The slot memory of a conversation.

    ``enterprise_id``/``enterprise_name``: the company in focus (他们 / 这家 refer to it).
    ``last_intent`` and ``window``: reused by a follow-up such as 那华信物流呢 or 最近三个月呢.
    ``pending``: a clarifying question awaiting its answer (``{"intent", "candidates", ...}``).
    ``query``: the last query-layer question (a ``Query`` as JSON); 那今年以来呢 changes its period.
    """

    enterprise_id: str | None = None
    enterprise_name: str | None = None
    last_intent: str | None = None
    window: dict[str, int] = field(default_factory=dict)
    mentioned: list[dict[str, str]] = field(default_factory=list)
    pending: dict[str, Any] | None = None
    query: dict[str, Any] | None = None  # the last query-layer question, for its follow-ups
    previous_query: dict[str, Any] | None = None  # the one before it: 对比一下 compares the two

    def focus(self, enterprise_id: str, name: str) -> None:
        """Make this company the one later pronouns refer to."""
        self.enterprise_id, self.enterprise_name = enterprise_id, name
        self.mentioned = [m for m in self.mentioned if m["id"] != enterprise_id]
        self.mentioned.insert(0, {"id": enterprise_id, "name": name})
        del self.mentioned[MAX_REMEMBERED_ENTERPRISES:]

    def forget_hidden(self, visible: Callable[[str], bool]) -> bool:
        """Forget every remembered company the caller no longer sees (a client moved to another
        manager): 他们 / 那家 / a pending choice / a query follow-up must not reach it. True when
        the company in focus was forgotten."""
        lost = self.enterprise_id is not None and not visible(self.enterprise_id)
        if lost:
            self.enterprise_id = self.enterprise_name = None
        self.mentioned = [m for m in self.mentioned if visible(m["id"])]
        if self.pending and self.pending.get("candidates"):
            kept = [c for c in self.pending["candidates"] if visible(c["id"])]
            self.pending = {**self.pending, "candidates": kept} if kept else None
        for name in ("query", "previous_query"):
            kept = getattr(self, name)
            if kept and not all(
                visible(value)
                for f in kept.get("filters", [])
                if f.get("dimension") == "enterprise"
                for value in f.get("values", [])
            ):
                setattr(self, name, None)
        return lost

    @classmethod
    def from_json(cls, text: str) -> SessionState:
        data = json.loads(text or "{}")
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)


@dataclass
class Session:
    """A loaded conversation: its id, owner, state and how many turns it has."""

    id: str
    manager_id: str
    state: SessionState
    turn_count: int
    title: str = ""
    stored: bool = True  # False: created by ``SessionStore.new``, written with its first turn
    imported: list[tuple[str, str, str]] = field(default_factory=list)
    """Earlier exchanges (user text, reply text, intent) a client sent back, stored before the
    session's next turn (see :meth:`SessionStore.append`)."""


@dataclass(frozen=True)
class StoredTurn:
    """One turn as stored."""

    seq: int
    user_text: str
    reply_text: str
    intent: str
    payload: dict[str, Any]
    created_at: datetime


def _now() -> datetime:
    return datetime.now().replace(microsecond=0)


class SessionStore:
    """Create, load and append to conversations."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, manager_id: str) -> Session:
        """A new, empty conversation owned by ``manager_id``, stored at once."""
        session = self.new(manager_id)
        with self.db.write() as conn:
            self._insert(conn, session, _now())
        session.stored = True
        return session

    @staticmethod
    def new(manager_id: str) -> Session:
        """A new conversation that is stored together with its first turn (a turn that fails
        half-way leaves no empty conversation behind)."""
        return Session(uuid.uuid4().hex, manager_id, SessionState(), 0, stored=False)

    @staticmethod
    def _insert(conn: Any, session: Session, now: datetime) -> None:
        conn.execute(
            insert(sessions).values(
                id=session.id,
                manager_id=session.manager_id,
                title="",
                state=SessionState().to_json(),
                created_at=now,
                updated_at=now,
            )
        )

    def load(self, session_id: str, manager_id: str, *, is_admin: bool = False) -> Session:
        """The conversation ``session_id``; :class:`NotFound` if absent or another's."""
        with self.db.read() as conn:
            row = conn.execute(
                select(sessions.c.manager_id, sessions.c.state, sessions.c.title).where(
                    sessions.c.id == session_id
                )
            ).one_or_none()
            if row is None or (row.manager_id != manager_id and not is_admin):
                raise NotFound(f"未找到会话 {session_id}（或它不属于当前客户经理）。")
            count = conn.execute(
                select(func.count()).select_from(turns).where(turns.c.session_id == session_id)
            ).scalar_one()
        return Session(
            session_id, row.manager_id, SessionState.from_json(row.state), count, row.title
        )

    def append(
        self,
        session: Session,
        *,
        user_text: str,
        reply_text: str,
        intent: str,
        payload: dict[str, Any],
        model: str | None = None,
    ) -> StoredTurn:
        """Store a turn and the session's state together (one transaction); ``model`` is the
        model or version that answered (None: the offline engine).

        A session from :meth:`new` is inserted in the same transaction, and the exchanges in
        ``session.imported`` are stored before the turn."""
        now = _now()
        rows = [(u, r, i, {"imported": True}, None) for u, r, i in session.imported]
        rows.append((user_text, reply_text, intent, payload, model))
        seq = session.turn_count + len(rows)
        title = session.title or rows[0][0][:40]
        with self.db.write() as conn:
            if not session.stored:
                self._insert(conn, session, now)
            for n, (u, r, i, p, m) in enumerate(rows, start=session.turn_count + 1):
                conn.execute(
                    insert(turns).values(
                        session_id=session.id,
                        seq=n,
                        user_text=u,
                        reply_text=r,
                        intent=i,
                        payload=json.dumps(jsonable(p), ensure_ascii=False),
                        created_at=now,
                        model=m,
                    )
                )
            conn.execute(
                update(sessions)
                .where(sessions.c.id == session.id)
                .values(state=session.state.to_json(), updated_at=now, title=title)
            )
        session.turn_count, session.title, session.stored = seq, title, True
        session.imported = []
        return StoredTurn(seq, user_text, reply_text, intent, payload, now)

    def history(self, session_id: str) -> list[StoredTurn]:
        """Every turn of a conversation, in order."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(turns).where(turns.c.session_id == session_id).order_by(turns.c.seq)
            ).all()
        return [
            StoredTurn(
                r.seq, r.user_text, r.reply_text, r.intent, json.loads(r.payload), r.created_at
            )
            for r in rows
        ]

    def list(self, manager_id: str, limit: int = 20) -> list[Session]:
        """The manager's most recent conversations."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(sessions.c.id, sessions.c.state, sessions.c.title)
                .where(sessions.c.manager_id == manager_id)
                .order_by(sessions.c.updated_at.desc())
                .limit(limit)
            ).all()
        return [
            Session(r.id, manager_id, SessionState.from_json(r.state), -1, r.title) for r in rows
        ]

    def delete(self, session_id: str, manager_id: str) -> None:
        """Remove a conversation and its turns."""
        self.load(session_id, manager_id)
        with self.db.write() as conn:
            conn.execute(delete(turns).where(turns.c.session_id == session_id))
            conn.execute(delete(sessions).where(sessions.c.id == session_id))


@dataclass(frozen=True)
class ModelUsage:
    """How a model or version has served: the turns it answered, in how many conversations,
    and the ratings (1–5) users gave those turns; what an A/B test is decided on."""

    model: str
    turns: int
    sessions: int
    rated: int
    mean_score: float | None
    first: datetime | None
    last: datetime | None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("first", "last"):
            data[key] = data[key].isoformat(timespec="seconds") if data[key] else None
        return data


def model_usage(db: Database, model: str) -> ModelUsage:
    """The serving figures of ``model`` from the stored turns and their ratings."""
    joined = turns.outerjoin(ratings, ratings.c.turn_id == turns.c.id)
    query = (
        select(
            func.count(turns.c.id),
            func.count(func.distinct(turns.c.session_id)),
            func.count(ratings.c.id),
            func.avg(ratings.c.score),
            func.min(turns.c.created_at),
            func.max(turns.c.created_at),
        )
        .select_from(joined)
        .where(turns.c.model == model)
    )
    with db.read() as conn:
        count, conversations, rated, mean, first, last = conn.execute(query).one()
    return ModelUsage(
        model, count, conversations, rated, float(mean) if mean is not None else None, first, last
    )
