"""比上月 is this month against the last; a balance's change cannot screen clients; one company
paying or selling to another is its figure with the other as counterparty; 回款最快 is the fewest
days to be paid. RM questions that were answered with 12 months against 12, an empty list, a
company profile and the smallest inflow.

Figures are checked against plain SQL on the seeded sample data (as of 2026-10-31, manager M001),
on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import text

from finassist.assistant import Assistant
from finassist.store import Database

ME = "M001"


@pytest.fixture(scope="module")
def assistant(seeded_backend: Database) -> Iterator[Assistant]:
    yield Assistant(seeded_backend)


def yuan(fen: int) -> str:
    return f"{Decimal(fen) / 100:,.2f} 元"


def invoiced(db: Database, start: str, end: str) -> int:
    with db.read() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT SUM(amount + tax) FROM invoices WHERE seller_id = 'E0001' "
                    "AND status <> 'void' AND issue_date BETWEEN :s AND :t"
                ),
                {"s": start, "t": end},
            ).scalar_one()
        )


def test_compared_with_last_month_is_this_month_against_the_last(
    assistant: Assistant, seeded_backend: Database
) -> None:
    reply = assistant.ask("华东汽车的开票金额比上月增加了多少", manager_id=ME)
    assert "2026-10-01 至 2026-10-31" in reply.text and "2026-09-01 至 2026-09-30" in reply.text
    assert yuan(invoiced(seeded_backend, "2026-10-01", "2026-10-31")) in reply.text, reply.text
    assert yuan(invoiced(seeded_backend, "2026-09-01", "2026-09-30")) in reply.text, reply.text


def test_a_balances_change_cannot_screen_clients(assistant: Assistant) -> None:
    reply = assistant.ask("哪些客户的逾期金额比上个月增加了", manager_id=ME)
    assert reply.clarification and "没有按月留存的历史余额" in reply.text, reply.text
    assert "|" not in reply.text and "没有符合条件的数据" not in reply.text


def test_one_company_paying_another(assistant: Assistant, seeded_backend: Database) -> None:
    with seeded_backend.read() as conn:
        paid = conn.execute(
            text(
                "SELECT SUM(amount) FROM payments WHERE payer_id = 'E0001' AND payee_id = 'E0006' "
                "AND paid_date BETWEEN '2025-11-01' AND '2026-10-31'"
            )
        ).scalar_one()
    reply = assistant.ask("华东汽车给远航汽配付了多少钱", manager_id=ME)
    assert "交易对手：宁波远航汽车零部件有限公司" in reply.text, reply.text
    assert f"资金流出 {yuan(int(paid))}[" in reply.text, reply.text


def test_fastest_to_be_paid_is_the_fewest_days(assistant: Assistant) -> None:
    reply = assistant.ask("哪家供应商回款最快", manager_id=ME)
    assert "按平均回款天数从低到高排列" in reply.text and "资金流入" not in reply.text, reply.text


def test_this_quarter_against_the_last_is_the_whole_previous_quarter(
    assistant: Assistant, seeded_backend: Database
) -> None:
    with seeded_backend.read() as conn:
        q3 = conn.execute(
            text(
                "SELECT SUM(amount) FROM payments WHERE payee_id = 'E0005' "
                "AND paid_date BETWEEN '2026-07-01' AND '2026-09-30'"
            )
        ).scalar_one()
    reply = assistant.ask("恒泰精密这个季度的回款比上季度怎么样", manager_id=ME)
    assert "上一季度（2026-07-01 至 2026-09-30）" in reply.text, reply.text
    assert f"对比期资金流入 {yuan(int(q3))}" in reply.text and "还不完整" in reply.text


def test_the_largest_invoice_of_the_book_names_its_issuer(
    assistant: Assistant, seeded_backend: Database
) -> None:
    with seeded_backend.read() as conn:
        top = conn.execute(
            text(
                "SELECT e.name, i.invoice_no, i.amount + i.tax AS gross FROM invoices i "
                "JOIN enterprises e ON e.id = i.seller_id JOIN manager_clients mc "
                "ON mc.enterprise_id = i.seller_id AND mc.manager_id = :m WHERE i.status <> 'void' "
                "AND i.issue_date BETWEEN '2026-09-01' AND '2026-09-30' ORDER BY gross DESC"
            ),
            {"m": ME},
        ).first()
    assert top is not None
    reply = assistant.ask("上个月开票金额最大的发票是哪张", manager_id=ME)
    assert f"| 1 | {top.name} | {top.invoice_no} |" in reply.text, reply.text


def test_a_company_with_nothing_is_named_when_two_are_compared(assistant: Assistant) -> None:
    reply = assistant.ask("恒泰精密和华信精工谁的逾期多", manager_id=ME)
    assert "苏州恒泰精密机械有限公司在统计范围内没有逾期应收金额" in reply.text, reply.text


def test_a_supplier_paying_its_suppliers_is_screened_on_the_payees(
    assistant: Assistant, seeded_backend: Database
) -> None:
    with seeded_backend.read() as conn:
        paid = conn.execute(
            text(
                "SELECT SUM(p.amount) FROM payments p JOIN enterprises o ON o.id = p.payee_id "
                "JOIN enterprises e ON e.id = p.payer_id WHERE e.name = '襄阳耀科电机有限公司' "
                "AND o.role = 'supplier' AND p.paid_date BETWEEN '2026-09-01' AND '2026-09-30'"
            )
        ).scalar_one()
    reply = assistant.ask("耀科电机上个月付了多少钱给供应商", manager_id=ME)
    assert "交易对手类型：供应商" in reply.text, reply.text
    assert f"资金流出 {yuan(int(paid))}[" in reply.text, reply.text


def test_a_clients_financing_rate_is_its_records_not_the_knowledge_base(
    assistant: Assistant,
) -> None:
    reply = assistant.ask("宁波润磊的融资利率是多少", manager_id=ME)
    assert reply.enterprise_id is not None and "知识库中没有找到" not in reply.text, reply.text
    assert "利率 5.79%" in reply.text, reply.text
