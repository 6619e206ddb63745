"""A kind of company the named company is not describes the other side: 华东汽车（核心企业）付给
供应商的钱 is its payments to suppliers, not its own figures screened as a supplier (0.00).

Each figure is checked against plain SQL on the seeded sample data (as of 2026-10-31, manager
M001), on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import text

from finassist.assistant import Assistant
from finassist.store import Database

ME = "M001"
THIS_YEAR = {"s": "2026-01-01", "t": "2026-10-31"}


@pytest.fixture(scope="module")
def assistant(seeded_backend: Database) -> Iterator[Assistant]:
    yield Assistant(seeded_backend)


def fen(db: Database, sql: str, **params: str) -> int:
    with db.read() as conn:
        return int(conn.execute(text(sql), {**THIS_YEAR, **params}).scalar_one() or 0)


def yuan(value: int) -> str:
    return f"{Decimal(value) / 100:,.2f} 元"


@pytest.mark.parametrize(
    ("question", "metric", "sql", "kind"),
    [
        (
            "华东汽车今年付给供应商的钱一共多少",
            "资金流出",
            "SELECT SUM(p.amount) FROM payments p JOIN enterprises o ON o.id = p.payee_id "
            "WHERE p.payer_id = :e AND o.role = :r AND p.paid_date BETWEEN :s AND :t",
            "supplier",
        ),
        (
            "华东汽车今年从经销商收到多少回款",
            "资金流入",
            "SELECT SUM(p.amount) FROM payments p JOIN enterprises o ON o.id = p.payer_id "
            "WHERE p.payee_id = :e AND o.role = :r AND p.paid_date BETWEEN :s AND :t",
            "distributor",
        ),
    ],
)
def test_a_kind_of_company_the_named_one_is_not_is_its_counterparties(
    assistant: Assistant, seeded_backend: Database, question: str, metric: str, sql: str, kind: str
) -> None:
    reply = assistant.ask(question, manager_id=ME)
    expected = fen(seeded_backend, sql, e="E0001", r=kind)
    assert expected > 0
    assert reply.intent == "query" and not reply.clarification, reply.text
    assert "交易对手类型" in reply.text and reply.unverified == [], reply.text
    assert f"华东汽车集团股份有限公司：{metric} {yuan(expected)}[" in reply.text, reply.text


def test_a_kind_of_company_without_a_named_one_still_screens_the_clients(
    assistant: Assistant, seeded_backend: Database
) -> None:
    reply = assistant.ask("今年供应商的开票金额合计", manager_id=ME)
    expected = fen(
        seeded_backend,
        "SELECT SUM(i.amount + i.tax) FROM invoices i JOIN enterprises e ON e.id = i.seller_id "
        "JOIN manager_clients mc ON mc.enterprise_id = i.seller_id AND mc.manager_id = :m "
        "WHERE e.role = 'supplier' AND i.status <> 'void' AND i.issue_date BETWEEN :s AND :t",
        m=ME,
    )
    assert "企业类型：供应商" in reply.text and "交易对手类型" not in reply.text, reply.text
    assert f"开票金额（含税） {yuan(expected)}[" in reply.text, reply.text
