"""Data scope: which enterprises a caller may see.

A relationship manager sees the enterprises assigned to him in ``manager_clients``; an admin
(``Caller.is_admin`` or ``managers.role == 'admin'``) sees all. Asking about an enterprise outside
one's scope gives exactly the same :class:`NotFound` message as asking about one that does not
exist, so the answer never reveals that a company is somebody else's client.

>>> require_visible(ctx, "E0004")            # doctest: +SKIP  (returns None or raises NotFound)
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints
from sqlalchemy import and_, select

from finassist.errors import AccessDenied, NotFound
from finassist.finance.base import ToolContext
from finassist.finance.rows import EnterpriseRow, enterprise
from finassist.store import schema

ADMIN_ROLE = "admin"

EnterpriseId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=32),
    Field(description="企业编号，例如 E0004；不确定时先用 find_enterprise 按名称查询"),
]
"""The ``enterprise_id`` argument of every tool about one enterprise."""


def not_found_message(enterprise_id: str) -> str:
    """The one message for "no such enterprise" and "not your client" alike."""
    return f"未找到企业“{enterprise_id}”，或您无权查看该企业。请先用企业名称查询确认编号。"


def _manager_role(ctx: ToolContext) -> str:
    """The caller's role from ``managers``; an unknown manager id is :class:`AccessDenied`."""
    with ctx.read() as conn:
        role = conn.execute(
            select(schema.managers.c.role).where(schema.managers.c.id == ctx.caller.manager_id)
        ).scalar_one_or_none()
    if role is None:
        raise AccessDenied(
            f"未知的客户经理编号“{ctx.caller.manager_id}”，请检查登录身份或联系管理员开通。"
        )
    return role


def is_admin(ctx: ToolContext) -> bool:
    """True when the caller sees every enterprise."""
    if ctx.caller.is_admin:
        return True
    role = ctx.caller.role if ctx.caller.role is not None else _manager_role(ctx)
    return role == ADMIN_ROLE


def visible_ids(ctx: ToolContext) -> set[str] | None:
    """Ids of the enterprises the caller may see, or None meaning "all" (admin)."""
    if is_admin(ctx):
        return None
    mc = schema.manager_clients
    with ctx.read() as conn:
        query = select(mc.c.enterprise_id).where(mc.c.manager_id == ctx.caller.manager_id)
        rows = conn.execute(query)
        return {row[0] for row in rows}


def require_visible(ctx: ToolContext, enterprise_id: str) -> None:
    """Raise :class:`NotFound` unless the enterprise exists and is in the caller's scope."""
    e, mc = schema.enterprises, schema.manager_clients
    query = select(e.c.id).where(e.c.id == enterprise_id)
    if not is_admin(ctx):
        query = query.join(
            mc,
            and_(mc.c.enterprise_id == e.c.id, mc.c.manager_id == ctx.caller.manager_id),
        )
    with ctx.read() as conn:
        found = conn.execute(query).first()
    if found is None:
        raise NotFound(not_found_message(enterprise_id))


def visible_enterprise(ctx: ToolContext, enterprise_id: str) -> EnterpriseRow:
    """The enterprise's row after :func:`require_visible`; what every tool starts with."""
    require_visible(ctx, enterprise_id)
    row = enterprise(ctx, enterprise_id)
    if row is None:  # deleted between the two reads
        raise NotFound(not_found_message(enterprise_id))
    return row
