"""How many invoices two companies exchanged (之间的发票有多少张) is a count in both directions, and
哪些客户从来没有做过融资 lists the clients with none: two RM questions that were answered with
amounts and with a balance-or-amount question.

Each figure is checked against plain SQL on the seeded sample data (as of 2026-10-31, manager
M001), on every backend."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from finassist.assistant import Assistant
from finassist.store import Database

ME = "M001"


@pytest.fixture(scope="module")
def assistant(seeded_backend: Database) -> Iterator[Assistant]:
    yield Assistant(seeded_backend)


def test_invoices_between_two_companies_are_counted_both_ways(
    assistant: Assistant, seeded_backend: Database
) -> None:
    count = (
        "SELECT COUNT(*) FROM invoices WHERE seller_id = :s AND buyer_id = :b "
        "AND status <> 'void' AND issue_date BETWEEN '2025-11-01' AND '2026-10-31'"
    )
    with seeded_backend.read() as conn:
        sold = conn.execute(text(count), {"s": "E0006", "b": "E0001"}).scalar_one()
        bought = conn.execute(text(count), {"s": "E0001", "b": "E0006"}).scalar_one()
    assert sold > 0
    reply = assistant.ask("宁波远航和华东汽车之间的发票有多少张", manager_id=ME)
    assert "开票金额" not in reply.text, reply.text
    assert f"宁波远航汽车零部件有限公司 开给 华东汽车集团股份有限公司 {sold} 张[" in reply.text
    assert f"华东汽车集团股份有限公司 开给 宁波远航汽车零部件有限公司 {bought} 张[" in reply.text


def test_clients_that_never_took_financing(assistant: Assistant, seeded_backend: Database) -> None:
    with seeded_backend.read() as conn:
        never = conn.execute(
            text(
                "SELECT e.name FROM manager_clients mc JOIN enterprises e ON e.id = mc.enterprise_id "
                "WHERE mc.manager_id = :m AND NOT EXISTS (SELECT 1 FROM financing f "
                "WHERE f.applicant_id = e.id AND f.status NOT IN ('applied', 'rejected'))"
            ),
            {"m": ME},
        ).scalars()
        expected = set(never)
    assert expected
    reply = assistant.ask("我名下哪些客户从来没有做过融资", manager_id=ME)
    assert not reply.clarification and "截至数据日期的全部记录" in reply.text, reply.text
    listed = set(re.findall(r"^\| \d+ \| ([^|\[]+?)\[", reply.text, re.MULTILINE))
    assert listed == expected, reply.text
