"""The enterprise report over REST: the assistant's report composer, without a conversation."""

from __future__ import annotations

from datetime import date
from typing import Any

from finassist.assistant import guard
from finassist.assistant.handlers import HANDLERS, TurnInput
from finassist.finance.base import Caller, ToolContext, get_tool
from finassist.serve.keys import Principal
from finassist.store import Database

REPORT_INTENT = "report"


def enterprise_report(
    db: Database, principal: Principal, as_of: date, enterprise_id: str
) -> dict[str, Any]:
    """The cash-flow health report of one enterprise in the caller's scope, with its evidence.

    An enterprise outside the scope raises the same ``NotFound`` as one that does not exist.
    """
    tools = ToolContext(db, Caller(principal.manager_id, is_admin=principal.is_admin), as_of)
    profile = get_tool("get_enterprise_profile").run(tools, {"enterprise_id": enterprise_id})
    name = profile.data["enterprise"]["name"]
    turn = TurnInput(
        tools=tools,
        text=f"{name}的现金流健康度报告",
        enterprise_id=enterprise_id,
        enterprise_name=name,
    )
    answer = HANDLERS[REPORT_INTENT](turn)
    checked = guard.check(answer.text, turn.book.items)
    return {
        "enterprise_id": enterprise_id,
        "enterprise_name": name,
        "as_of": as_of.isoformat(),
        "text": checked.text,
        "unverified": checked.unsupported,
        "evidence": [e.to_json() for e in turn.book.items],
    }
