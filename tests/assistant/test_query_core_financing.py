"""Chain financing of a core enterprise: 华东汽车的融资余额 is the financing its suppliers and
dealers took with it as the core, not its own applications (a true, useless 0.00).

Each figure is checked against plain SQL on the seeded sample data (as of 2026-10-31, manager
M001), on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import text

from finassist.assistant import Assistant
from finassist.finance.base import Caller, ToolContext
from finassist.report.build import build_report
from finassist.store import Database

ME = "M001"
CORE = "E0001"  # 华东汽车集团股份有限公司
MINE = "f.applicant_id IN (SELECT enterprise_id FROM manager_clients WHERE manager_id = :m)"


@pytest.fixture(scope="module")
def assistant(seeded_backend: Database) -> Iterator[Assistant]:
    yield Assistant(seeded_backend)


def scalar(db: Database, sql: str, **params: str) -> int:
    with db.read() as conn:
        return int(conn.execute(text(sql), {"m": ME, **params}).scalar_one() or 0)


def test_a_core_enterprises_financing_balance_is_the_financing_under_it(
    assistant: Assistant, seeded_backend: Database
) -> None:
    own = scalar(
        seeded_backend, "SELECT COUNT(*) FROM financing f WHERE f.applicant_id = :e", e=CORE
    )
    under = scalar(
        seeded_backend,
        "SELECT SUM(f.amount) FROM financing f WHERE f.core_id = :e "
        f"AND f.status IN ('active', 'overdue') AND {MINE}",
        e=CORE,
    )
    assert own == 0 and under > 0
    reply = assistant.ask("华东汽车的融资余额是多少", manager_id=ME)
    assert reply.intent == "query" and not reply.clarification, reply.text
    assert f"融资余额 {Decimal(under) / 100:,.2f} 元[" in reply.text, reply.text
    assert "交易对手：华东汽车集团股份有限公司" in reply.text
    assert "华东汽车集团股份有限公司是核心企业" in reply.text, reply.text


def test_early_payments_this_year_under_a_core_enterprise_are_counted(
    assistant: Assistant, seeded_backend: Database
) -> None:
    count = scalar(
        seeded_backend,
        "SELECT COUNT(*) FROM financing f WHERE f.core_id = :e AND f.product = 'early_payment' "
        f"AND f.start_date BETWEEN '2026-01-01' AND '2026-10-31' AND {MINE}",
        e=CORE,
    )
    assert count > 0
    reply = assistant.ask("华东汽车今年做了多少笔提前回款", manager_id=ME)
    assert f"提前回款申请次数 {count} 次[" in reply.text, reply.text


def test_a_suppliers_financing_is_still_its_own(
    assistant: Assistant, seeded_backend: Database
) -> None:
    reply = assistant.ask("远航汽配的融资余额", manager_id=ME)
    assert "宁波远航汽车零部件有限公司：融资余额" in reply.text, reply.text
    assert "是核心企业" not in reply.text


def test_whether_a_core_enterprise_ever_did_reverse_factoring_is_its_suppliers_financing(
    assistant: Assistant, seeded_backend: Database
) -> None:
    ever = scalar(
        seeded_backend,
        "SELECT SUM(f.amount) FROM financing f WHERE f.core_id = :e "
        "AND f.product = 'reverse_factoring' AND f.status NOT IN ('applied', 'rejected') "
        f"AND f.start_date <= '2026-10-31' AND {MINE}",
        e=CORE,
    )
    assert ever > 0
    reply = assistant.ask("华东汽车做过反向保理吗", manager_id=ME)
    assert "截至数据日期的全部记录" in reply.text and "融资产品：反向保理" in reply.text, reply.text
    assert f"融资发生额 {Decimal(ever) / 100:,.2f} 元[" in reply.text, reply.text


def test_which_supplier_under_a_core_has_the_largest_balance(
    assistant: Assistant, seeded_backend: Database
) -> None:
    with seeded_backend.read() as conn:
        top = conn.execute(
            text(
                "SELECT e.name, SUM(f.amount) AS s FROM financing f "
                "JOIN enterprises e ON e.id = f.applicant_id WHERE f.core_id = :e "
                f"AND f.status IN ('active', 'overdue') AND e.role = 'supplier' AND {MINE} "
                "GROUP BY e.name ORDER BY s DESC"
            ),
            {"e": CORE, "m": ME},
        ).first()
    assert top is not None
    reply = assistant.ask("华东汽车下面哪家供应商融资余额最大", manager_id=ME)
    assert "企业类型：供应商" in reply.text and "交易对手类型" not in reply.text, reply.text
    assert f"| 1 | {top.name} | {Decimal(int(top.s)) / 100:,.2f} 元[" in reply.text, reply.text


def test_a_core_enterprises_financing_records_describe_the_financing_under_it(
    assistant: Assistant, seeded_backend: Database
) -> None:
    ever = scalar(
        seeded_backend,
        "SELECT COUNT(*) FROM financing f WHERE f.core_id = :e "
        f"AND f.status NOT IN ('applied', 'rejected') AND {MINE}",
        e=CORE,
    )
    balance = scalar(
        seeded_backend,
        "SELECT SUM(f.amount) FROM financing f WHERE f.core_id = :e "
        f"AND f.status IN ('active', 'overdue') AND {MINE}",
        e=CORE,
    )
    late = scalar(
        seeded_backend,
        f"SELECT COUNT(*) FROM financing f WHERE f.core_id = :e AND f.status = 'overdue' AND {MINE}",
        e=CORE,
    )
    reply = assistant.ask("华东汽车有逾期的融资吗", manager_id=ME)
    assert "暂无融资记录" not in reply.text and reply.unverified == [], reply.text
    assert "是核心企业，本身没有融资申请" in reply.text, reply.text
    assert f"融资累计 {ever} 笔" in reply.text, reply.text
    assert f"当前融资余额 {Decimal(balance) / 100:,.2f} 元[" in reply.text, reply.text
    assert f"其中逾期 {late} 笔[" in reply.text, reply.text


def test_after_a_core_another_company_is_its_own_financing(
    assistant: Assistant, seeded_backend: Database
) -> None:
    first = assistant.ask("华东汽车的融资余额是多少", manager_id=ME)
    then = assistant.ask("那恒泰精密呢", manager_id=ME, session_id=first.session_id)
    own = scalar(
        seeded_backend,
        "SELECT SUM(f.amount) FROM financing f JOIN enterprises e ON e.id = f.applicant_id "
        "WHERE e.name = '苏州恒泰精密机械有限公司' AND f.status IN ('active', 'overdue')",
    )
    assert own > 0
    assert "交易对手" not in then.text, then.text
    assert f"苏州恒泰精密机械有限公司：融资余额 {Decimal(own) / 100:,.2f} 元[" in then.text
    later = assistant.ask("那今年新增了多少", manager_id=ME, session_id=first.session_id)
    added = scalar(
        seeded_backend,
        "SELECT SUM(f.amount) FROM financing f JOIN enterprises e ON e.id = f.applicant_id "
        "WHERE e.name = '苏州恒泰精密机械有限公司' AND f.status NOT IN ('applied', 'rejected') "
        "AND f.start_date BETWEEN '2026-01-01' AND '2026-10-31'",
    )
    # 新增 after a balance is what was added in the period, not a balance
    assert f"融资发生额 {Decimal(added) / 100:,.2f} 元[" in later.text, later.text


def test_a_core_enterprises_report_shows_the_financing_under_it(seeded_backend: Database) -> None:
    ctx = ToolContext(seeded_backend, Caller(ME), date(2026, 10, 31))
    report = build_report(ctx, CORE, charts=False)
    history = next(s for s in report.sections if s.title == "六、融资记录")
    shown = {f.label: f.shown for f in history.figures}
    under = scalar(
        seeded_backend,
        "SELECT SUM(f.amount) FROM financing f WHERE f.core_id = :e "
        f"AND f.status IN ('active', 'overdue') AND {MINE}",
        e=CORE,
    )
    assert shown["以其为核心企业的融资余额"] == f"{Decimal(under) / 100:,.2f} 元"
    assert all(f.cites for f in history.figures)


def test_after_a_supplier_a_core_enterprise_is_the_financing_under_it(
    assistant: Assistant, seeded_backend: Database
) -> None:
    first = assistant.ask("恒泰精密的融资余额是多少", manager_id=ME)
    then = assistant.ask("那华东汽车呢", manager_id=ME, session_id=first.session_id)
    under = scalar(
        seeded_backend,
        "SELECT SUM(f.amount) FROM financing f WHERE f.core_id = :e "
        f"AND f.status IN ('active', 'overdue') AND {MINE}",
        e=CORE,
    )
    assert "华东汽车集团股份有限公司是核心企业" in then.text, then.text
    assert f"融资余额 {Decimal(under) / 100:,.2f} 元[" in then.text, then.text
