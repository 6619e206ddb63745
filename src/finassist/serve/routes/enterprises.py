"""``/api/enterprises/{id}/report``: the cash-flow health report of one enterprise."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Request

from finassist.serve.report import enterprise_report
from finassist.serve.state import Caller, get_state

router = APIRouter(prefix="/api/enterprises", tags=["企业"])


@router.get("/{enterprise_id}/report")
def report(
    *,
    request: Request,
    enterprise_id: str = Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$"),
    principal: Caller,
) -> dict[str, Any]:
    """The report with its evidence; an enterprise outside the caller's scope is 404."""
    state = get_state(request)
    return enterprise_report(state.db, principal, state.as_of(), enterprise_id)
