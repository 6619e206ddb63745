"""``/api/sessions``: list one's conversations, read a conversation's turns, delete one, and
rate an answer (1-5 and a comment; stored with the turn).

Another manager's session answers exactly like one that does not exist (404).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from finassist.serve.ratings import MAX_COMMENT_CHARS, MAX_SCORE, MIN_SCORE
from finassist.serve.state import Caller, get_state

router = APIRouter(prefix="/api/sessions", tags=["会话与评分"])
SessionId = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
MAX_LISTED = 100


class RatingIn(BaseModel):
    """A rating of one answer."""

    score: int = Field(ge=MIN_SCORE, le=MAX_SCORE, description="1（差）到 5（好）")
    comment: str = Field("", max_length=MAX_COMMENT_CHARS)


@router.get("")
def list_sessions(
    *,
    request: Request,
    limit: int = Query(20, ge=1, le=MAX_LISTED),
    principal: Caller,
) -> dict[str, Any]:
    """The caller's most recent conversations."""
    state = get_state(request)
    found = state.sessions.list(principal.manager_id, limit=limit)
    return {
        "object": "list",
        "data": [
            {"id": s.id, "title": s.title or "（新会话）", "enterprise": s.state.enterprise_name}
            for s in found
        ],
    }


@router.get("/{session_id}/turns")
def session_turns(
    *,
    request: Request,
    session_id: str = SessionId,
    principal: Caller,
) -> dict[str, Any]:
    """Every turn of a conversation, in order, with its evidence, recommendation, chart and
    rating."""
    state = get_state(request)
    session = state.sessions.load(session_id, principal.manager_id, is_admin=principal.is_admin)
    rated = state.ratings.for_session(session_id)
    data = []
    for turn in state.sessions.history(session_id):
        rating = rated.get(turn.seq)
        data.append(
            {
                "seq": turn.seq,
                "user_text": turn.user_text,
                "reply_text": turn.reply_text,
                "intent": turn.intent,
                "evidence": turn.payload.get("evidence", []),
                "recommendation": turn.payload.get("recommendation"),
                "unverified": turn.payload.get("unverified", []),
                "chart": turn.payload.get("chart"),
                "calculation": turn.payload.get("calculation"),
                "created_at": turn.created_at.isoformat(),
                "rating": rating.to_json() if rating else None,
            }
        )
    return {"object": "list", "session_id": session.id, "title": session.title, "data": data}


@router.delete("/{session_id}", status_code=204)
def delete_session(
    *,
    request: Request,
    session_id: str = SessionId,
    principal: Caller,
) -> Response:
    """Delete a conversation and its turns (and their ratings)."""
    state = get_state(request)
    session = state.sessions.load(session_id, principal.manager_id, is_admin=principal.is_admin)
    state.sessions.delete(session_id, session.manager_id)
    return Response(status_code=204)


@router.put("/{session_id}/turns/{seq}/rating")
def rate_turn(
    *,
    body: RatingIn,
    request: Request,
    session_id: str = SessionId,
    seq: int = Path(ge=1, le=1_000_000),
    principal: Caller,
) -> dict[str, Any]:
    """Rate (or re-rate) the answer of turn ``seq``."""
    state = get_state(request)
    return state.ratings.rate(principal, session_id, seq, body.score, body.comment).to_json()
