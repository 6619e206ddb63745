"""Warming a worker process up before it takes requests.

The first questions a fresh process answers load what every later one shares: the intent model
and its embeddings, the query words, the metric definitions, the finance tools and their rule
files. Left to the first callers, a worker's first few turns take several times as long and
every turn that arrives meanwhile waits behind them: a long tail at startup. So each worker
asks a few questions first, unrecorded and offline (never a configured model), as the first
relationship manager about one of his clients. It also builds every manager's directory of
visible enterprises (within :data:`DIRECTORY_BUDGET_S`): left to the first requests, each of the
turns a manager has in flight at startup would build the same directory at once.

>>> warm_up(create_app(settings).state.server.assistant)      # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import select

from finassist.assistant import Assistant
from finassist.finance.base import ToolContext
from finassist.store.schema import enterprises, manager_clients, managers

log = logging.getLogger("finassist.serve")
DIRECTORY_BUDGET_S = 3.0  # a bank with thousands of managers builds the rest on demand

QUESTIONS = (
    "{name}近12个月的现金流怎么样？",
    "{name}还有哪些应收发票没付？",
    "{name}前五大客户占比多少",
    "{name}的风险",
    "给{name}推荐一个融资产品",
    "{name}的贷后情况",
    "{name}有没有资金需求？",
)


def warm_up(assistant: Assistant) -> None:
    """Build the managers' directories, then ask :data:`QUESTIONS` offline and unrecorded; a
    database without a manager and client is left as it is. Never fails: a warm-up that goes
    wrong only costs the first callers."""
    try:
        _directories(assistant)
    except Exception:  # a warm-up must never stop the server
        log.warning("warm-up of the directories failed", exc_info=True)
    with assistant.db.read() as conn:
        row = conn.execute(
            select(managers.c.id, enterprises.c.short_name)
            .join(manager_clients, manager_clients.c.manager_id == managers.c.id)
            .join(enterprises, enterprises.c.id == manager_clients.c.enterprise_id)
            .where(managers.c.role == "manager")
            .order_by(managers.c.id, enterprises.c.id)
            .limit(1)
        ).first()
    if row is None:
        return
    offline = assistant
    if assistant.backend is not None:  # the same pipeline without the model
        offline = Assistant(
            assistant.db,
            as_of=assistant.as_of(),
            router=assistant.router,
            understanders=assistant.understanders,
        )
        offline.scopes = assistant.scopes  # the directories just built
    for question in QUESTIONS:
        try:
            offline.ask(question.format(name=row.short_name), manager_id=row.id, record=False)
        except Exception:  # a warm-up must never stop the server
            log.warning("warm-up question failed: %s", question, exc_info=True)


def _directories(assistant: Assistant) -> None:
    """Every manager's directory, into the assistant's cache, until the budget is spent."""
    with assistant.db.read() as conn:
        ids = conn.execute(select(managers.c.id).order_by(managers.c.id)).scalars().all()
    deadline = time.monotonic() + DIRECTORY_BUDGET_S
    for manager_id in ids:
        if time.monotonic() > deadline:
            return
        caller = assistant.scopes.caller(manager_id)
        assistant.scopes.directory(ToolContext(assistant.db, caller, assistant.as_of()))
