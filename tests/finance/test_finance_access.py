"""Data scope: managers see their clients only; outsiders cannot even learn a company exists."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import text

from finassist.errors import AccessDenied, InvalidInput, NotFound
from finassist.finance.access import require_visible, visible_ids
from finassist.finance.base import ToolContext, all_tools, get_tool

ENTERPRISE_TOOLS = [t.name for t in all_tools() if "enterprise_id" in t.parameters()["properties"]]


def _message(ctx: ToolContext, tool: str, enterprise_id: str) -> str:
    with pytest.raises(NotFound) as err:
        get_tool(tool).run(ctx, {"enterprise_id": enterprise_id})
    return str(err.value)


def test_every_enterprise_tool_is_scoped() -> None:
    assert len(ENTERPRISE_TOOLS) == 9


@pytest.mark.parametrize("tool", ENTERPRISE_TOOLS)
def test_other_managers_client_looks_exactly_like_a_missing_company(
    make_ctx: Callable[..., ToolContext], tool: str
) -> None:
    ctx = make_ctx("M002")
    # S1 exists but is M001's client; X999 does not exist at all.
    hidden = _message(ctx, tool, "S1")
    missing = _message(ctx, tool, "X999")
    assert hidden.replace("S1", "<id>") == missing.replace("X999", "<id>")
    assert "未找到企业“S1”" in hidden


def test_manager_sees_own_clients_and_admin_sees_all(make_ctx: Callable[..., ToolContext]) -> None:
    assert visible_ids(make_ctx("M001")) == {"C1", "S1", "S2", "D1", "D2"}
    assert visible_ids(make_ctx("M002")) == {"C2", "S3"}
    assert visible_ids(make_ctx("A001")) is None  # admin by managers.role
    assert visible_ids(make_ctx("M002", is_admin=True)) is None  # admin by the caller flag
    require_visible(make_ctx("A001"), "S3")
    result = get_tool("get_risk_signals").run(make_ctx("A001"), {"enterprise_id": "S3"})
    assert result.data["on_execution_list"] is True


def test_unknown_manager_is_denied(make_ctx: Callable[..., ToolContext]) -> None:
    with pytest.raises(AccessDenied, match="未知的客户经理编号“M404”"):
        get_tool("get_cashflow").run(make_ctx("M404"), {"enterprise_id": "S1"})


def test_find_enterprise_never_returns_invisible_companies(
    make_ctx: Callable[..., ToolContext],
) -> None:
    # 德丰模具 (S3) and 南粤电子 (C2) are M002's clients.
    for query in ("德丰模具", "昆山德丰模具有限公司", "南粤电子", "NYDZ", "德丰模巨"):
        found = get_tool("find_enterprise").run(make_ctx("M001"), {"query": query})
        assert found.data["matches"] == [], query
        assert found.records == []
    found = get_tool("find_enterprise").run(make_ctx("M002"), {"query": "德丰模具"})
    assert [m["id"] for m in found.data["matches"]] == ["S3"]


def test_counterparty_names_in_evidence_do_not_open_their_profiles(
    make_ctx: Callable[..., ToolContext],
) -> None:
    # S1's invoices name C2 (M002's client): visible as a counterparty, not as a profile.
    result = get_tool("get_outstanding_invoices").run(make_ctx("M001"), {"enterprise_id": "S1"})
    assert "南粤电子设备集团股份有限公司" in {
        i["counterparty_name"] for i in result.data["invoices"]
    }
    with pytest.raises(NotFound):
        get_tool("get_enterprise_profile").run(make_ctx("M001"), {"enterprise_id": "C2"})


@pytest.mark.parametrize(
    ("tool", "args", "field"),
    [
        ("get_cashflow", {"enterprise_id": "S1", "months": 99}, "months"),
        ("get_cashflow", {"enterprise_id": "S1", "days": 0}, "days"),
        ("get_cashflow", {"enterprise_id": "S1", "months": 3, "days": 30}, "months 与 days"),
        ("get_outstanding_invoices", {"enterprise_id": "S1", "side": "both"}, "side"),
        ("get_concentration", {"enterprise_id": "S1", "side": "x"}, "side"),
        ("get_payment_behavior", {"enterprise_id": "  "}, "enterprise_id"),
        ("get_payment_behavior", {}, "enterprise_id"),
        ("get_risk_signals", {"enterprise_id": "S1", "sql": "drop table"}, "sql"),
        ("find_enterprise", {"query": ""}, "query"),
        ("get_product", {"product": ""}, "product"),
    ],
)
def test_invalid_arguments_name_the_field(
    make_ctx: Callable[..., ToolContext], tool: str, args: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        get_tool(tool).run(make_ctx("M001"), args)
    message = str(err.value)
    assert field in message and tool in message


def test_invalid_argument_messages_are_chinese(make_ctx: Callable[..., ToolContext]) -> None:
    with pytest.raises(InvalidInput, match="months：不能大于 24"):
        get_tool("get_cashflow").run(make_ctx(), {"enterprise_id": "S1", "months": 25})
    with pytest.raises(InvalidInput, match="enterprise_id：缺少必填参数"):
        get_tool("get_cashflow").run(make_ctx(), {})


def test_unknown_tool_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="没有名为 run_sql 的工具"):
        get_tool("run_sql")


def test_the_read_connection_cannot_write(make_ctx: Callable[..., ToolContext]) -> None:
    db = make_ctx().db
    with pytest.raises(Exception) as err, db.read() as conn:
        conn.execute(text("DELETE FROM risk_events"))
        conn.commit()
    assert not isinstance(err.value, AssertionError)
    with db.read() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM risk_events")).scalar_one() == 3
