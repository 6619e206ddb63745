"""Financing that falls due (哪些客户的融资下个月到期) and net outflow (净流出最多): two RM questions
the query layer read wrongly (a balance-or-amount question; 净流出 taken for a company name).

Each figure is checked against plain SQL on the seeded sample data (as of 2026-10-31, manager
M001), on every backend. Periods of a maturity question are read forward from the data's date."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import text

from finassist.assistant import Assistant
from finassist.finance.query.periods import read_ahead
from finassist.store import Database

ME = "M001"
AS_OF = date(2026, 10, 31)
MINE = "applicant_id IN (SELECT enterprise_id FROM manager_clients WHERE manager_id = :m)"
DUE = (
    "SELECT e.name, SUM(f.amount) AS s, COUNT(*) AS n FROM financing f "
    "JOIN enterprises e ON e.id = f.applicant_id WHERE f.end_date BETWEEN :s AND :t "
    f"AND f.status NOT IN ('applied', 'rejected') AND f.{MINE} GROUP BY e.name ORDER BY s DESC"
)


@pytest.fixture(scope="module")
def assistant(seeded_backend: Database) -> Iterator[Assistant]:
    yield Assistant(seeded_backend)


def yuan(fen: int) -> str:
    return f"{Decimal(fen) / 100:,.2f} 元"


@pytest.mark.parametrize(
    ("phrase", "start", "end", "label"),
    [
        ("下个月到期", date(2026, 11, 1), date(2026, 11, 30), "2026年11月"),
        ("30天内到期", date(2026, 11, 1), date(2026, 11, 30), "未来30天"),
        ("3月到期", date(2027, 3, 1), date(2027, 3, 31), "2027年3月"),  # the next March
        ("下季度到期", date(2027, 1, 1), date(2027, 3, 31), "2027年第1季度"),
        ("年底前到期", date(2026, 11, 1), date(2026, 12, 31), "2026年剩余"),
        ("未来3个月到期", date(2026, 11, 1), date(2027, 1, 31), "未来3个月"),
    ],
)
def test_a_maturity_period_is_read_forward(phrase: str, start: date, end: date, label: str) -> None:
    period = read_ahead(phrase, AS_OF)
    assert period is not None and (period.start, period.end, period.label) == (start, end, label)


def test_looking_back_is_not_read_ahead() -> None:
    assert read_ahead("近3个月到期的融资", AS_OF) is None
    assert read_ahead("快到期的融资", AS_OF) is None


def test_which_clients_financing_falls_due_next_month(
    assistant: Assistant, seeded_backend: Database
) -> None:
    with seeded_backend.read() as conn:
        due = conn.execute(text(DUE), {"m": ME, "s": "2026-11-01", "t": "2026-11-30"}).all()
    assert due  # the sample data holds some, or the test proves nothing
    reply = assistant.ask("哪些客户的融资下个月到期", manager_id=ME)
    assert reply.intent == "query" and not reply.clarification, reply.text
    assert "2026-11-01 至 2026-11-30" in reply.text and reply.unverified == [], reply.text
    for i, row in enumerate(due, start=1):
        assert f"| {i} | {row.name} | {yuan(int(row.s))} | {row.n} 笔[" in reply.text, reply.text


def test_financing_that_fell_due_last_month_is_a_past_period(
    assistant: Assistant, seeded_backend: Database
) -> None:
    with seeded_backend.read() as conn:
        total, count = conn.execute(
            text(
                "SELECT SUM(amount), COUNT(*) FROM financing WHERE end_date BETWEEN :s AND :t "
                f"AND status NOT IN ('applied', 'rejected') AND {MINE}"
            ),
            {"m": ME, "s": "2026-09-01", "t": "2026-09-30"},
        ).one()
    reply = assistant.ask("上个月到期的融资有多少", manager_id=ME)
    assert f"到期融资金额 {yuan(int(total))}，到期融资笔数 {count} 笔[" in reply.text, reply.text


def test_when_a_loan_falls_due_lists_each_loans_dates(assistant: Assistant) -> None:
    reply = assistant.ask("恒泰精密的贷款什么时候到期", manager_id=ME)
    assert "到期融资金额" not in reply.text and "2026-11-04" in reply.text, reply.text


NET = (
    "SELECT e.name, SUM(CASE WHEN p.payee_id = e.id THEN p.amount ELSE -p.amount END) AS n "
    "FROM enterprises e JOIN manager_clients mc ON mc.enterprise_id = e.id AND mc.manager_id = :m "
    "JOIN payments p ON (p.payee_id = e.id OR p.payer_id = e.id) "
    "AND p.paid_date BETWEEN :s AND :t GROUP BY e.name ORDER BY n"
)


def test_the_largest_net_outflow_is_the_lowest_net_inflow(
    assistant: Assistant, seeded_backend: Database
) -> None:
    with seeded_backend.read() as conn:
        rows = conn.execute(text(NET), {"m": ME, "s": "2026-07-01", "t": "2026-09-30"}).all()
    assert rows[0].n < 0
    reply = assistant.ask("今年三季度资金净流出最多的客户是哪家", manager_id=ME)
    assert "未找到企业" not in reply.text, reply.text
    assert f"| 1 | {rows[0].name} | -{yuan(-int(rows[0].n))}[" in reply.text, reply.text


def test_net_outflow_above_a_bound_is_net_inflow_below_its_negative(
    assistant: Assistant, seeded_backend: Database
) -> None:
    with seeded_backend.read() as conn:
        rows = conn.execute(text(NET), {"m": ME, "s": "2026-01-01", "t": "2026-10-31"}).all()
    out = [r for r in rows if r.n < -1_000_000_000]
    assert out
    reply = assistant.ask("今年净流出超过1000万的客户有哪些", manager_id=ME)
    assert "净流入<-10,000,000.00 元" in reply.text and f"共 {len(out)} 项" in reply.text, (
        reply.text
    )


def test_how_many_invoices_overdue_beyond_n_days_is_a_count(
    assistant: Assistant, seeded_backend: Database
) -> None:
    with seeded_backend.read() as conn:
        count, amount = conn.execute(
            text(
                "SELECT COUNT(*), SUM(i.amount + i.tax - i.paid_amount) FROM invoices i "
                "JOIN enterprises e ON e.id = i.seller_id WHERE e.name = :n "
                "AND i.status IN ('unpaid', 'partial') AND i.due_date < :d"
            ),
            {"n": "无锡顺达橡塑制品有限公司", "d": "2026-09-01"},  # 60 days before 2026-10-31
        ).one()
    assert count > 0
    reply = assistant.ask("顺达橡塑有多少张逾期超过60天的发票", manager_id=ME)
    assert f"逾期发票张数 {count} 张，逾期应收金额 {yuan(int(amount))}[" in reply.text, reply.text
