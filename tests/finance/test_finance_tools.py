"""Each tool's figures, and the evidence records that back them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event

from finassist.errors import NotFound
from finassist.finance.base import ToolContext, ToolResult, all_tools, get_tool, jsonable

D = Decimal
MONEY_IN_TEXT = re.compile(r"\d{1,3}(?:,\d{3})*\.\d{2} 元")


def inv(n: int) -> str:
    """Fixture invoice numbers (see conftest.inv)."""
    return f"26312000000000{n:06d}"


@pytest.fixture(scope="module")
def run(make_ctx: Callable[..., ToolContext]) -> Callable[..., ToolResult]:
    def call(tool: str, manager: str = "M001", **args: Any) -> ToolResult:
        result = get_tool(tool).run(make_ctx(manager), args)
        _check_records(result)
        return result

    return call


def _check_records(result: ToolResult) -> None:
    """Records are unique, stated in Chinese, and metrics cite only records of the same result."""
    ids = [r.id for r in result.records]
    assert len(ids) == len(set(ids))
    for record in result.records:
        assert record.id.startswith(f"{record.kind}:") and record.text
        if record.kind == "metric":
            assert set(record.data) >= {"name", "label", "value", "unit", "formula", "inputs"}
            assert record.id == f"metric:{record.data['enterprise_id']}:{record.data['name']}"
            assert set(record.data["inputs"]) <= set(ids), record.id
            assert len(record.data["inputs"]) <= 20
    json.dumps(jsonable(result.data), ensure_ascii=False)
    json.dumps([jsonable(r.data) for r in result.records], ensure_ascii=False)


def _metric(result: ToolResult, name: str) -> dict[str, Any]:
    eid = result.args.get("enterprise_id")
    record = next(r for r in result.records if r.id == f"metric:{eid}:{name}")
    return record.data


def test_all_required_tools_are_registered_with_chinese_descriptions() -> None:
    names = {t.name for t in all_tools()}
    assert names == {
        "find_enterprise",
        "get_enterprise_profile",
        "get_outstanding_invoices",
        "get_cashflow",
        "get_payment_behavior",
        "get_concentration",
        "get_risk_signals",
        "get_financing_history",
        "get_open_orders",
        "query_data",
        "list_products",
        "get_product",
        "recommend_products",
        "calculate",
        "plot_chart",
    }
    for tool in all_tools():
        schema = tool.schema()["function"]
        assert re.search(r"[\u4e00-\u9fff]", schema["description"])
        for prop in schema["parameters"].get("properties", {}).values():
            assert re.search(r"[\u4e00-\u9fff]", prop.get("description", "")), (tool.name, prop)


def test_a_tool_run_reads_through_one_connection(make_ctx: Callable[..., ToolContext]) -> None:
    ctx = make_ctx()
    checkouts: list[object] = []

    def count(*_: object) -> None:
        checkouts.append(1)

    event.listen(ctx.db.read_engine, "checkout", count)
    try:
        result = get_tool("get_payment_behavior").run(ctx, {"enterprise_id": "S1"})
    finally:
        event.remove(ctx.db.read_engine, "checkout", count)
    assert result.records and len(checkouts) == 1
    assert ctx.connection is None  # the run's connection is not left behind


def test_find_enterprise(run: Callable[..., ToolResult]) -> None:
    result = run("find_enterprise", query="恒泰精蜜")
    assert result.data["query"] == "恒泰精蜜"
    (match,) = result.data["matches"]
    assert {k: match[k] for k in ("id", "name", "short_name", "role", "industry")} == {
        "id": "S1",
        "name": "苏州恒泰精密机械有限公司",
        "short_name": "恒泰精密",
        "role": "supplier",
        "industry": "精密机械",
    }
    assert [r.id for r in result.records] == ["enterprise:S1"]


def test_enterprise_profile(run: Callable[..., ToolResult]) -> None:
    result = run("get_enterprise_profile", enterprise_id="S1")
    profile = result.data["enterprise"]
    assert profile["name"] == "苏州恒泰精密机械有限公司" and profile["role"] == "supplier"
    assert profile["registered_capital"] == D("10000000.00")
    assert profile["established"] == date(2010, 1, 1)
    assert {k for k in profile} >= {"id", "uscc", "industry", "region", "rating"}
    assert [
        (r["counterparty_id"], r["payment_terms_days"], r["as"])
        for r in result.data["relationships"]
    ] == [
        ("C1", 90, "counterparty"),
        ("C2", 90, "counterparty"),
    ]
    assert result.data["relationships"][0]["counterparty_name"] == "华东汽车集团股份有限公司"
    count = _metric(result, "relationship_count")
    assert count["value"] == result.data["relationship_count"] == 2
    assert count["inputs"] == [r.id for r in result.records if r.kind == "relationship"]
    core = run("get_enterprise_profile", enterprise_id=" C1 ")  # ids are trimmed
    assert {r["counterparty_id"] for r in core.data["relationships"]} == {"S1", "S2", "S3", "D1"}
    assert {r["as"] for r in core.data["relationships"]} == {"core"}


def test_outstanding_receivables(run: Callable[..., ToolResult]) -> None:
    result = run("get_outstanding_invoices", enterprise_id="S1")
    data = result.data
    assert (data["side"], data["count"], data["total_outstanding"]) == (
        "receivable",
        2,
        D("691000.00"),
    )
    assert (data["overdue_count"], data["overdue_outstanding"]) == (1, D("339000.00"))
    first, second = data["invoices"]
    assert (first["invoice_no"], first["days_overdue"], first["outstanding"]) == (
        inv(4),
        32,
        D("339000.00"),
    )
    assert (second["invoice_no"], second["days_overdue"], second["outstanding"]) == (
        inv(5),
        0,
        D("352000.00"),
    )
    assert second["status"] == "partial" and second["paid_amount"] == D("100000.00")
    assert _metric(result, "receivable_overdue_outstanding")["value"] == D("339000.00")
    assert _metric(result, "receivable_overdue_outstanding")["inputs"] == [f"invoice:{inv(4)}"]
    text = next(r.text for r in result.records if r.id == f"invoice:{inv(4)}")
    assert text == (
        f"发票 {inv(4)}：销方 苏州恒泰精密机械有限公司，购方 华东汽车集团股份有限公司，"
        "金额 300,000.00 元，税额 39,000.00 元，开票日 2026-07-01，到期日 2026-09-29，未付"
    )


def test_outstanding_totals_cover_all_invoices_beyond_the_limit(
    run: Callable[..., ToolResult],
) -> None:
    result = run("get_outstanding_invoices", enterprise_id="S1", limit=1)
    assert result.data["count"] == 2 and result.data["total_outstanding"] == D("691000.00")
    assert [i["invoice_no"] for i in result.data["invoices"]] == [inv(4)]


def test_outstanding_payables(run: Callable[..., ToolResult]) -> None:
    data = run("get_outstanding_invoices", enterprise_id="S1", side="payable").data
    assert (data["count"], data["total_outstanding"], data["overdue_count"]) == (
        1,
        D("33900.00"),
        1,
    )
    assert (
        data["invoices"][0]["counterparty_id"] == "C2" and data["invoices"][0]["days_overdue"] == 16
    )


def test_cashflow_windows(run: Callable[..., ToolResult]) -> None:
    year = run("get_cashflow", enterprise_id="S1")
    assert (year.data["start"], year.data["end"]) == (date(2025, 11, 1), date(2026, 10, 31))
    assert (year.data["inflow"], year.data["outflow"], year.data["net"]) == (
        D("495500.00"),
        D("22600.00"),
        D("472900.00"),
    )
    assert len(year.data["months"]) == 12
    assert year.data["months"][4] == {
        "month": "2026-03",
        "inflow": D("0.00"),
        "outflow": D("22600.00"),
        "net": D("-22600.00"),
    }
    assert _metric(year, "cash_by_month")["months"] == year.data["months"]
    quarter = run("get_cashflow", enterprise_id="S1", months=3)
    assert quarter.data["start"] == date(2026, 8, 1) and quarter.data["inflow"] == D("100000.00")
    month = run("get_cashflow", enterprise_id="S1", days=30)
    assert month.data["start"] == date(2026, 10, 2) and len(month.data["months"]) == 1


def test_payment_behavior(run: Callable[..., ToolResult]) -> None:
    result = run("get_payment_behavior", enterprise_id="S1")
    expected = {
        "dso_days": D("74.3"),
        "paid_count": 3,
        "paid_early": 1,
        "paid_on_time": 1,
        "paid_late": 1,
        "avg_days_late": D("10.0"),
        "early_payment_requests": 7,
        "months_with_early_payment_request": 6,
        "overdue_count": 1,
        "overdue_outstanding": D("339000.00"),
        "overdue_rate": D("0.4906"),
    }
    assert {k: result.data[k] for k in expected} == expected
    dso = _metric(result, "dso_days")
    assert dso["value"] == D("74.3") and dso["unit"] == "天" and dso["label"] == "平均回款天数"
    assert set(dso["inputs"]) == {f"invoice:{inv(n)}" for n in (1, 2, 3)}
    requests = _metric(result, "months_with_early_payment_request")
    assert set(requests["inputs"]) == {f"financing:F{n}" for n in range(1, 8)}
    rate = next(r for r in result.records if r.id == "metric:S1:overdue_rate")
    assert "49.06%" in rate.text and "691,000.00 元" in rate.text


def test_concentration(run: Callable[..., ToolResult]) -> None:
    data = run("get_concentration", enterprise_id="S1").data
    assert data["total"] == D("1050000.00")
    assert [(t["counterparty_id"], t["amount"], t["share"]) for t in data["top"]] == [
        ("C1", D("600000.00"), D("0.5714")),
        ("C2", D("450000.00"), D("0.4286")),
    ]
    assert (data["top1_share"], data["top5_share"], data["hhi"]) == (
        D("0.5714"),
        D("1.0000"),
        D("0.5102"),
    )
    purchases = run("get_concentration", enterprise_id="S1", side="purchases")
    assert purchases.data["top"][0]["counterparty_id"] == "C2"
    assert _metric(purchases, "purchases_share_C2")["value"] == D("1.0000")


def test_risk_signals(run: Callable[..., ToolResult]) -> None:
    result = run("get_risk_signals", manager="M002", enterprise_id="S3")
    data = result.data
    assert [e["id"] for e in data["events"]] == ["R1", "R3", "R2"]  # newest first
    assert data["counts_by_kind"] == {"execution": 1, "abnormal_invoice": 1, "litigation": 1}
    assert data["on_execution_list"] is True
    assert data["has_litigation"] is False  # the lawsuit is closed
    assert data["risk_level"] == "高"
    (abnormal,) = data["abnormal_invoices"]
    assert (abnormal["invoice_no"], abnormal["multiple_of_median"]) == (inv(16), D("45.5"))
    quiet = run("get_risk_signals", enterprise_id="S1").data
    assert (quiet["risk_level"], quiet["events"], quiet["on_execution_list"]) == ("低", [], False)


def test_financing_history(run: Callable[..., ToolResult]) -> None:
    data = run("get_financing_history", enterprise_id="S1").data
    assert data["count"] == 9 and data["overdue_count"] == 0
    assert data["active_amount"] == D("700000.00")  # F7 + F9
    assert data["items"][0]["id"] == "F7"  # newest first
    assert data["items"][0]["product_name"] == "提前回款" and data["items"][0]["rate"] == D("4.10")
    s3 = run("get_financing_history", manager="M002", enterprise_id="S3").data
    assert (s3["count"], s3["overdue_count"], s3["active_amount"]) == (1, 1, D("0.00"))


def test_open_orders(run: Callable[..., ToolResult]) -> None:
    result = run("get_open_orders", enterprise_id="D1")
    data = result.data
    assert [o["order_no"] for o in data["orders"]] == ["O1"]
    assert data["orders"][0]["counterparty_name"] == "华东汽车集团股份有限公司"
    assert (data["open_amount"], data["avg_monthly_inflow"], data["funding_gap"]) == (
        D("8000000.00"),
        D("18833.33"),
        D("7943500.01"),
    )
    assert _metric(result, "funding_gap")["inputs"] == ["order:O1"]


def test_products(run: Callable[..., ToolResult]) -> None:
    listed = run("list_products")
    assert len(listed.data["products"]) == 5
    assert {r.id for r in listed.records} == {
        f"product:{c}"
        for c in (
            "reverse_factoring",
            "early_payment",
            "order_financing",
            "purchase_financing",
            "distribution_financing",
        )
    }
    by_name = run("get_product", product="反向保理").data["product"]
    by_code = run("get_product", product="reverse_factoring").data["product"]
    assert by_name == by_code and by_name["rate_range"] == (D("3.20"), D("4.80"))
    with pytest.raises(NotFound, match="没有名为“保险”的融资产品"):
        run("get_product", product="保险")


def test_money_in_record_text_has_separators_and_two_decimals(
    run: Callable[..., ToolResult],
) -> None:
    for tool, args in [
        ("get_outstanding_invoices", {"enterprise_id": "S1"}),
        ("get_cashflow", {"enterprise_id": "S1"}),
        ("get_financing_history", {"enterprise_id": "S1"}),
    ]:
        result = run(tool, **args)
        money_records = [r for r in result.records if r.kind in ("invoice", "payment", "financing")]
        assert money_records
        for record in money_records:
            assert MONEY_IN_TEXT.search(record.text), record.text
