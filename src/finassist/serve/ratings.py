"""Ratings of answers (1-5 and a comment), stored with the turn; exported as evaluation data and
as preference pairs for later training.

>>> RatingStore(db).rate(principal, session_id, seq=1, score=5, comment="准确")   # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import combinations
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update

from finassist.assistant.session import SessionStore
from finassist.errors import AccessDenied, InvalidInput, NotFound
from finassist.serve.keys import Principal
from finassist.store import Database
from finassist.store.schema import ratings, sessions, turns

MIN_SCORE, MAX_SCORE = 1, 5
MAX_COMMENT_CHARS = 2000
ADMIN_RATING_REFUSED = (
    "管理员不能为客户经理 {owner} 的会话评分：评分存入该经理的会话，只能由其本人评分。"
    "管理员可以阅读该会话，或在自己的会话中评分。"
)


@dataclass(frozen=True)
class Rating:
    """A stored rating of one turn."""

    session_id: str
    seq: int
    score: int
    comment: str
    manager_id: str
    rated_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "seq": self.seq,
            "score": self.score,
            "comment": self.comment,
            "manager_id": self.manager_id,
            "rated_at": self.rated_at.isoformat(),
        }


class RatingStore:
    """Rate turns of one's own sessions; read ratings back per session or for export."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.sessions = SessionStore(db)

    def rate(
        self, principal: Principal, session_id: str, seq: int, score: int, comment: str = ""
    ) -> Rating:
        """Store (or replace) the rating of turn ``seq``; :class:`NotFound` outside one's scope,
        :class:`AccessDenied` for an admin in a manager's session (readable, not writable, as
        with asking in it: ``serve/chat.py``)."""
        if not MIN_SCORE <= score <= MAX_SCORE:
            raise InvalidInput(f"评分应为 {MIN_SCORE} 到 {MAX_SCORE} 之间的整数，实际为 {score}。")
        if len(comment) > MAX_COMMENT_CHARS:
            raise InvalidInput(f"评语过长：上限 {MAX_COMMENT_CHARS} 个字符。")
        session = self.sessions.load(session_id, principal.manager_id, is_admin=principal.is_admin)
        if session.manager_id != principal.manager_id:
            raise AccessDenied(ADMIN_RATING_REFUSED.format(owner=session.manager_id))
        now = datetime.now().replace(microsecond=0)
        with self.db.write() as conn:
            turn_id = conn.execute(
                select(turns.c.id).where(turns.c.session_id == session_id, turns.c.seq == seq)
            ).scalar_one_or_none()
            if turn_id is None:
                raise NotFound(f"会话 {session_id} 中没有第 {seq} 轮对话。")
            values = {"score": score, "comment": comment, "manager_id": principal.manager_id}
            changed = conn.execute(
                update(ratings).where(ratings.c.turn_id == turn_id).values(**values, updated_at=now)
            ).rowcount
            if not changed:
                conn.execute(
                    insert(ratings).values(
                        turn_id=turn_id, created_at=now, updated_at=now, **values
                    )
                )
        return Rating(session_id, seq, score, comment, principal.manager_id, now)

    def for_session(self, session_id: str) -> dict[int, Rating]:
        """The ratings of a session's turns, by sequence number."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(turns.c.seq, ratings)
                .join(ratings, ratings.c.turn_id == turns.c.id)
                .where(turns.c.session_id == session_id)
            ).all()
        return {
            r.seq: Rating(session_id, r.seq, r.score, r.comment, r.manager_id, r.updated_at)
            for r in rows
        }

    def rated_turns(self) -> Iterator[dict[str, Any]]:
        """Every rated turn as an evaluation record, oldest first."""
        query = (
            select(
                turns.c.session_id,
                turns.c.seq,
                turns.c.user_text,
                turns.c.reply_text,
                turns.c.intent,
                turns.c.payload,
                sessions.c.manager_id.label("owner"),
                ratings.c.score,
                ratings.c.comment,
                ratings.c.manager_id.label("rater"),
                ratings.c.updated_at,
            )
            .join(ratings, ratings.c.turn_id == turns.c.id)
            .join(sessions, sessions.c.id == turns.c.session_id)
            .order_by(ratings.c.updated_at, turns.c.id)
        )
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        for r in rows:
            payload = json.loads(r.payload or "{}")
            yield {
                "session_id": r.session_id,
                "seq": r.seq,
                "manager_id": r.owner,
                "question": r.user_text,
                "answer": r.reply_text,
                "intent": r.intent,
                "evidence": payload.get("evidence", []),
                "score": r.score,
                "comment": r.comment,
                "rated_by": r.rater,
                "rated_at": r.updated_at.isoformat(),
            }


def preference_pairs(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pairs of differently rated answers to the same question: ``{prompt, chosen, rejected}``."""
    by_question: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_question[record["question"].strip()].append(record)
    pairs = []
    for question, answers in by_question.items():
        for a, b in combinations(answers, 2):
            if a["score"] == b["score"] or a["answer"] == b["answer"]:
                continue
            chosen, rejected = (a, b) if a["score"] > b["score"] else (b, a)
            pairs.append(
                {
                    "prompt": question,
                    "chosen": chosen["answer"],
                    "rejected": rejected["answer"],
                    "chosen_score": chosen["score"],
                    "rejected_score": rejected["score"],
                    "intent": chosen["intent"],
                }
            )
    return pairs


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    """Write records as JSON lines, atomically (temp file in the same folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for record in records:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
