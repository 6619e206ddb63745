"""Questions the query layer used to misread: each answer's figures are checked against plain SQL
on the seeded sample data (as of 2026-10-31, manager M001), on every backend.

最近一笔回款 gives the payment itself (date, amount, payer, invoice); 之间 counts both
directions; 哪些…最多 is a ranked list while 哪个…最多 is one row; 对比一下 after a single
answer asks what to compare it with instead of drawing a chart.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from finassist.assistant import Assistant, Reply
from finassist.errors import InvalidInput
from finassist.finance.base import Caller, ToolContext
from finassist.finance.query.compiler import run_query
from finassist.finance.query.model import Query
from finassist.store import Database

AS_OF = "2026-10-31"
ME = "M001"
HENGTAI, YUANHANG, HUADONG = "E0005", "E0006", "E0001"


@pytest.fixture(scope="module")
def db(seeded_backend: Database) -> Database:
    return seeded_backend


@pytest.fixture(scope="module")
def assistant(db: Database) -> Iterator[Assistant]:
    yield Assistant(db)


def rows(db: Database, query: str, **params: object) -> list[Any]:
    with db.read() as conn:
        return list(conn.execute(text(query), params).all())


def scalar(db: Database, query: str, **params: object) -> int:
    with db.read() as conn:
        return int(conn.execute(text(query), params).scalar_one() or 0)


def yuan(fen: int) -> str:
    return f"{Decimal(fen) / 100:,.2f} 元"


def ask(assistant: Assistant, *messages: str) -> list[Reply]:
    replies, session = [], None
    for message in messages:
        reply = assistant.ask(message, manager_id=ME, session_id=session)
        session = reply.session_id
        replies.append(reply)
    return replies


def assert_cited(reply: Reply) -> None:
    """A query-layer answer whose every figure the guard found in its evidence."""
    assert reply.intent == "query", reply.text
    assert reply.unverified == [], reply.text
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", reply.text)}
    assert cited and cited <= set(range(1, len(reply.evidence) + 1)), reply.text


def table_names(reply: Reply) -> list[str]:
    return re.findall(r"^\| \d+ \| ([^|]+?) \|", reply.text, re.MULTILINE)


# -- 最近一笔回款: the payment itself --------------------------------------------------------------

PAYMENTS_TO = (
    "SELECT p.paid_date, p.amount, p.invoice_no, e.name FROM payments p "
    "JOIN enterprises e ON e.id = p.payer_id WHERE p.payee_id = :e AND p.paid_date <= :d "
    "ORDER BY p.paid_date DESC, p.id DESC"
)


def test_latest_payment_received_is_its_date_amount_payer_and_invoice(
    assistant: Assistant, db: Database
) -> None:
    (reply,) = ask(assistant, "恒泰精密最近一笔回款是什么时候")
    paid_date, amount, invoice_no, payer = rows(db, PAYMENTS_TO, e=HENGTAI, d=AS_OF)[0]
    assert_cited(reply)
    assert f"最近一笔回款在 {paid_date}" in reply.text  # the date first: what was asked
    assert f"{payer} 付款 {yuan(amount)}" in reply.text and invoice_no in reply.text
    assert f"截至 {AS_OF}" in reply.text and "近12个月" not in reply.text
    assert "平均回款天数" not in reply.text  # not the payment-behaviour summary


def test_latest_payments_and_the_last_one_within_a_month(
    assistant: Assistant, db: Database
) -> None:
    (three,) = ask(assistant, "恒泰精密最近三笔回款")
    (september,) = ask(assistant, "恒泰精密9月最后一笔回款")
    (earliest,) = ask(assistant, "恒泰精密最早一笔回款是哪天")
    every = rows(db, PAYMENTS_TO, e=HENGTAI, d=AS_OF)
    assert_cited(three)
    for paid_date, amount, invoice_no, payer in every[:3]:
        assert f"| {paid_date} | {payer} | {invoice_no} | {yuan(amount)}" in three.text
    in_september = [r for r in every if "2026-09-01" <= str(r[0]) <= "2026-09-30"]
    paid_date, amount, invoice_no, _ = in_september[0]
    assert_cited(september)
    assert "2026-09-01 至 2026-09-30" in september.text
    assert f"最后一笔回款在 {paid_date}" in september.text and yuan(amount) in september.text
    first = min(every, key=lambda r: (str(r[0]), -every.index(r)))
    assert_cited(earliest)
    assert f"最早一笔回款在 {first[0]}" in earliest.text and yuan(first[1]) in earliest.text


def test_latest_invoice_and_a_payment_between_two_companies(
    assistant: Assistant, db: Database
) -> None:
    (invoice,) = ask(assistant, "恒泰精密上次开票是哪天")
    (paid,) = ask(assistant, "华东汽车最近一笔付给恒泰精密的款是哪天")
    number, issued, gross = rows(
        db,
        "SELECT invoice_no, issue_date, amount + tax FROM invoices WHERE seller_id = :e "
        "AND status <> 'void' AND issue_date <= :d ORDER BY issue_date DESC, invoice_no DESC",
        e=HENGTAI,
        d=AS_OF,
    )[0]
    assert_cited(invoice)
    assert f"最近一张发票在 {issued} 开出：{number}" in invoice.text and yuan(gross) in invoice.text
    paid_date, amount, invoice_no = rows(
        db,
        "SELECT paid_date, amount, invoice_no FROM payments WHERE payer_id = :a "
        "AND payee_id = :b AND paid_date <= :d ORDER BY paid_date DESC, id DESC",
        a=HUADONG,
        b=HENGTAI,
        d=AS_OF,
    )[0]
    assert_cited(paid)
    assert f"最近一笔付款在 {paid_date}：付给 苏州恒泰精密机械有限公司 {yuan(amount)}" in paid.text
    assert invoice_no in paid.text


def test_a_record_it_cannot_list_one_by_one_is_declined_not_guessed(
    assistant: Assistant,
) -> None:
    (orders,) = ask(assistant, "恒泰精密最近一笔订单")
    assert orders.clarification and "逐笔" in orders.text
    assert not re.search(r"\d[\d,]*\.\d\d 元", orders.text)
    (flows,) = ask(assistant, "华东汽车最近一笔流水")
    assert flows.clarification and "资金流入" in flows.text and "资金流出" in flows.text
    (bought,) = ask(assistant, "华东汽车最近一次从远航汽配采购是什么时候")
    assert bought.clarification and "逐笔" in bought.text  # not the company's profile
    (back,) = ask(assistant, "上次说的那家最近怎么样")  # 上次 here is no payment
    assert "逐笔" not in back.text


def test_a_follow_up_changes_how_many_records(assistant: Assistant, db: Database) -> None:
    _, three = ask(assistant, "恒泰精密最近一笔回款是什么时候", "最近三笔呢")
    assert_cited(three)
    for paid_date, amount, invoice_no, payer in rows(db, PAYMENTS_TO, e=HENGTAI, d=AS_OF)[:3]:
        assert f"| {paid_date} | {payer} | {invoice_no} | {yuan(amount)}" in three.text


def test_the_tool_refuses_a_pick_without_a_list(db: Database) -> None:
    ctx = ToolContext(db, Caller(ME), date.fromisoformat(AS_OF))
    with pytest.raises(InvalidInput, match="逐笔"):
        run_query(ctx, Query(metrics=["inflow"], pick="latest"))


# -- 之间: both directions ----------------------------------------------------------------------

INVOICED = (
    "SELECT COALESCE(SUM(amount + tax), 0) FROM invoices WHERE seller_id = :a AND buyer_id = :b "
    "AND status <> 'void' AND issue_date BETWEEN :s AND :t"
)
PAID = (
    "SELECT COALESCE(SUM(amount), 0) FROM payments WHERE payer_id = :a AND payee_id = :b "
    "AND paid_date BETWEEN :s AND :t"
)
YUANHANG_NAME, HUADONG_NAME = "宁波远航汽车零部件有限公司", "华东汽车集团股份有限公司"


@pytest.mark.parametrize(
    ("question", "first", "second"),
    [
        ("远航汽配和华东汽车之间今年的交易金额", YUANHANG, HUADONG),
        ("华东汽车跟远航汽配之间今年有多少往来", HUADONG, YUANHANG),
    ],
)
def test_trade_between_two_companies_is_both_directions_and_their_total(
    assistant: Assistant, db: Database, question: str, first: str, second: str
) -> None:
    (reply,) = ask(assistant, question)
    assert_cited(reply)
    assert "2026-01-01 至 2026-10-31" in reply.text and "两个方向分别统计" in reply.text
    names = {YUANHANG: YUANHANG_NAME, HUADONG: HUADONG_NAME}
    span = {"s": "2026-01-01", "t": "2026-10-31"}
    for kind, query, verb in (("开票金额（含税）", INVOICED, "开给"), ("付款金额", PAID, "付给")):
        ways = {
            (a, b): scalar(db, query, a=a, b=b, **span)
            for a, b in ((first, second), (second, first))
        }
        line = next(x for x in reply.text.splitlines() if x.startswith(kind))
        for (a, b), value in ways.items():
            assert f"{names[a]} {verb} {names[b]} {yuan(value)}" in line, line
        assert f"双向合计 {yuan(sum(ways.values()))}" in line
        assert sum(ways.values()) > 0  # the sample data trades this way
        if min(ways.values()) == 0:  # one direction only: the answer says which
            assert "这一个方向有记录" in line


def test_between_with_a_comparison_shows_both_periods_both_ways(
    assistant: Assistant, db: Database
) -> None:
    (reply,) = ask(assistant, "远航汽配和华东汽车之间三季度的开票环比")
    assert_cited(reply)
    spans = (("2026-07-01", "2026-09-30"), ("2026-04-01", "2026-06-30"))
    totals = []
    for (s, t), prefix in zip(spans, ("开票金额（含税）", "对比期开票金额（含税）"), strict=True):
        ways = [
            scalar(db, INVOICED, a=a, b=b, s=s, t=t)
            for a, b in ((YUANHANG, HUADONG), (HUADONG, YUANHANG))
        ]
        line = next(x for x in reply.text.splitlines() if x.startswith(prefix + "："))
        assert f"{YUANHANG_NAME} 开给 {HUADONG_NAME} {yuan(ways[0])}" in line
        assert f"{HUADONG_NAME} 开给 {YUANHANG_NAME} {yuan(ways[1])}" in line
        totals.append(sum(ways))
    change = totals[0] - totals[1]
    word = "增加" if change >= 0 else "减少"
    assert f"双向合计较对比期{word} {yuan(abs(change))}" in reply.text


def test_between_with_a_metric_that_has_no_mirror_says_it_is_one_way(
    assistant: Assistant, db: Database
) -> None:
    (reply,) = ask(assistant, "远航汽配和华东汽车之间的应收账款")
    assert_cited(reply)
    owed = scalar(
        db,
        "SELECT COALESCE(SUM(amount + tax - paid_amount), 0) FROM invoices WHERE seller_id = :a "
        "AND buyer_id = :b AND status IN ('unpaid', 'partial')",
        a=YUANHANG,
        b=HUADONG,
    )
    assert yuan(owed) in reply.text
    assert f"只按{YUANHANG_NAME}一方统计" in reply.text


# -- 哪些…最多 is a list, 哪个…最多 one row ---------------------------------------------------------

INFLOW_BY_CLIENT = (
    "SELECT e.name, SUM(p.amount) FROM payments p JOIN enterprises e ON e.id = p.payee_id "
    "JOIN manager_clients mc ON mc.enterprise_id = p.payee_id AND mc.manager_id = :m "
    "WHERE p.paid_date BETWEEN :s AND :t GROUP BY e.name"
)
INVOICED_BY_SUPPLIER = (
    "SELECT e.name, SUM(i.amount + i.tax) FROM invoices i JOIN enterprises e ON e.id = i.seller_id "
    "JOIN manager_clients mc ON mc.enterprise_id = i.seller_id AND mc.manager_id = :m "
    "WHERE i.status <> 'void' AND e.role = 'supplier' AND i.issue_date BETWEEN :s AND :t "
    "GROUP BY e.name"
)


def ranking(db: Database, query: str, **params: object) -> list[tuple[str, int]]:
    found = {row[0]: int(row[1]) for row in rows(db, query, **params)}
    return sorted(found.items(), key=lambda kv: -kv[1])


@pytest.mark.parametrize(
    ("question", "query", "start"),
    [
        ("哪些客户回款最多", INFLOW_BY_CLIENT, "2025-11-01"),
        ("今年哪些供应商开票金额最多", INVOICED_BY_SUPPLIER, "2026-01-01"),
        ("今年开票最多的几家供应商", INVOICED_BY_SUPPLIER, "2026-01-01"),
    ],
)
def test_which_ones_most_is_a_ranked_list_saying_how_many(
    assistant: Assistant, db: Database, question: str, query: str, start: str
) -> None:
    (reply,) = ask(assistant, question)
    assert_cited(reply)
    ranked = ranking(db, query, m=ME, s=start, t=AS_OF)
    assert f"{start} 至 {AS_OF}" in reply.text
    assert f"列出前 5 项（共 {len(ranked)} 项）" in reply.text
    assert "符合条件的共" not in reply.text  # 几家 after 最多 is the top few, not a count
    assert table_names(reply) == [name for name, _ in ranked[:5]]
    for name, value in ranked[:5]:
        assert f"{name} | {yuan(value)}" in reply.text


@pytest.mark.parametrize(
    ("question", "query", "start"),
    [
        ("哪个客户回款最多", INFLOW_BY_CLIENT, "2025-11-01"),
        ("哪家供应商今年开票最多", INVOICED_BY_SUPPLIER, "2026-01-01"),
    ],
)
def test_which_one_most_stays_one_row(
    assistant: Assistant, db: Database, question: str, query: str, start: str
) -> None:
    (reply,) = ask(assistant, question)
    assert_cited(reply)
    (top, value), *_ = ranking(db, query, m=ME, s=start, t=AS_OF)
    assert table_names(reply) == [top] and yuan(value) in reply.text


def test_which_month_spelt_with_its_unit_is_still_the_one_month(
    assistant: Assistant, db: Database
) -> None:
    (reply,) = ask(assistant, "聚力电机今年哪个月份回款最多")
    assert_cited(reply)
    months = rows(
        db,
        "SELECT paid_date, amount FROM payments WHERE payee_id = 'E0008' "
        "AND paid_date BETWEEN '2026-01-01' AND :d",
        d=AS_OF,
    )
    by_month: dict[str, int] = {}
    for paid_date, amount in months:
        key = str(paid_date)[:7]
        by_month[key] = by_month.get(key, 0) + int(amount)
    best = max(by_month, key=lambda k: by_month[k])
    assert re.findall(r"^\| 1 \| (\S+) \|", reply.text, re.MULTILINE) == [best]
    assert "| 2 |" not in reply.text and yuan(by_month[best]) in reply.text


def test_two_companies_side_by_side_are_both_answered(assistant: Assistant, db: Database) -> None:
    (reply,) = ask(assistant, "恒泰精密和远航汽配谁的回款多")
    assert_cited(reply)
    inflow = {
        e: scalar(
            db,
            "SELECT COALESCE(SUM(amount), 0) FROM payments WHERE payee_id = :e "
            "AND paid_date BETWEEN '2025-11-01' AND :d",
            e=e,
            d=AS_OF,
        )
        for e in (HENGTAI, YUANHANG)
    }
    names = {HENGTAI: "苏州恒泰精密机械有限公司", YUANHANG: YUANHANG_NAME}
    ordered = sorted(inflow, key=lambda e: -inflow[e])
    assert table_names(reply) == [names[e] for e in ordered]
    for e, value in inflow.items():
        assert f"{names[e]} | {yuan(value)}" in reply.text


# -- 对比一下 after one answer asks with what --------------------------------------------------------


def test_compare_after_one_answer_asks_what_with_then_compares(
    assistant: Assistant, db: Database
) -> None:
    first, question, paired = ask(assistant, "恒泰精密三季度开票金额", "对比一下", "和远航汽配比")
    assert_cited(first)
    assert question.clarification and question.chart is None
    assert "和什么对比" in question.text and "苏州恒泰精密机械有限公司" in question.text
    invoiced = (
        "SELECT COALESCE(SUM(amount + tax), 0) FROM invoices WHERE seller_id = :e "
        "AND status <> 'void' AND issue_date BETWEEN '2026-07-01' AND '2026-09-30'"
    )
    mine, theirs = (scalar(db, invoiced, e=e) for e in (HENGTAI, YUANHANG))
    assert_cited(paired)
    assert yuan(mine) in paired.text and yuan(theirs) in paired.text
    word = "多" if theirs >= mine else "少"
    assert f"{YUANHANG_NAME}比苏州恒泰精密机械有限公司{word} {yuan(abs(theirs - mine))}" in (
        paired.text
    )


def test_compare_with_nothing_before_asks_and_a_chart_word_still_draws(
    assistant: Assistant,
) -> None:
    (alone,) = ask(assistant, "对比一下")
    assert alone.clarification and alone.chart is None and "对比什么" in alone.text
    _, after_templated = ask(assistant, "华东汽车的现金流怎么样", "对比一下")
    assert after_templated.clarification and "华东汽车集团股份有限公司" in after_templated.text
    _, drawn = ask(assistant, "恒泰精密三季度开票金额", "画图对比一下")
    assert "和什么对比" not in drawn.text  # 图 / 画: the chart composer's
