"""Issue 14: manager questions over his own book, answered by the query layer, on every backend.

Each expected figure is computed here by plain SQL text (not the compiler), on the seeded sample
data, as of its data date 2026-10-31, and looked for in the answer as a user reads it. Every
answer must state its period; a screen must never name another manager's client.
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import text

from finassist.assistant import Assistant, Reply
from finassist.finance.base import Caller, ToolContext, get_tool
from finassist.store import Database

AS_OF = "2026-10-31"
ME = "M001"
COMPANIES = {  # short name -> id in the sample data (M001's clients)
    "华东汽车": "E0001",
    "恒泰精密": "E0005",
    "远航汽配": "E0006",
    "顺达橡塑": "E0007",
    "聚力电机": "E0008",
}
PERIODS = {  # phrase -> the dates the answer must state
    "9月份": ("2026-09-01", "2026-09-30"),
    "2026年9月": ("2026-09-01", "2026-09-30"),
    "6月份": ("2026-06-01", "2026-06-30"),
    "三季度": ("2026-07-01", "2026-09-30"),
    "Q2": ("2026-04-01", "2026-06-30"),
    "上半年": ("2026-01-01", "2026-06-30"),
    "今年以来": ("2026-01-01", "2026-10-31"),
    "上个月": ("2026-09-01", "2026-09-30"),
    "本月": ("2026-10-01", "2026-10-31"),
    "9月1日到10月15日": ("2026-09-01", "2026-10-15"),
    "2025年": ("2025-01-01", "2025-12-31"),
}
INVOICED = (
    "SELECT COALESCE(SUM(amount + tax), 0) FROM invoices WHERE seller_id = :e "
    "AND status <> 'void' AND issue_date BETWEEN :s AND :t"
)
INVOICE_COUNT = (
    "SELECT COUNT(*) FROM invoices WHERE seller_id = :e "
    "AND status <> 'void' AND issue_date BETWEEN :s AND :t"
)
INFLOW = (
    "SELECT COALESCE(SUM(amount), 0) FROM payments WHERE payee_id = :e "
    "AND paid_date BETWEEN :s AND :t"
)
OUTFLOW = (
    "SELECT COALESCE(SUM(amount), 0) FROM payments WHERE payer_id = :e "
    "AND paid_date BETWEEN :s AND :t"
)
OPEN_BY_COMPANY = (
    "SELECT e.name, SUM(i.amount + i.tax - i.paid_amount) FROM invoices i "
    "JOIN enterprises e ON e.id = i.seller_id "
    "JOIN manager_clients mc ON mc.enterprise_id = i.seller_id AND mc.manager_id = :m "
    "WHERE i.status IN ('unpaid', 'partial') AND e.role = :role GROUP BY e.name"
)
OVERDUE_BY_COMPANY = OPEN_BY_COMPANY.replace(
    "WHERE i.status IN ('unpaid', 'partial')",
    f"WHERE i.status IN ('unpaid', 'partial') AND i.due_date < '{AS_OF}'",
)
ORDERS_BY_COMPANY = (
    "SELECT e.name, SUM(o.amount) FROM orders o JOIN enterprises e ON e.id = o.buyer_id "
    "JOIN manager_clients mc ON mc.enterprise_id = o.buyer_id AND mc.manager_id = :m "
    "WHERE o.status <> 'cancelled' AND o.order_date BETWEEN :s AND :t AND e.role = :role "
    "GROUP BY e.name"
)
BALANCE_BY_COMPANY = (
    "SELECT e.name, SUM(f.amount) FROM financing f JOIN enterprises e ON e.id = f.applicant_id "
    "JOIN manager_clients mc ON mc.enterprise_id = f.applicant_id AND mc.manager_id = :m "
    "WHERE f.status IN ('active', 'overdue') GROUP BY e.name"
)
INVOICED_BY_COMPANY = (
    "SELECT e.name, SUM(i.amount + i.tax) FROM invoices i JOIN enterprises e ON e.id = i.seller_id "
    "JOIN manager_clients mc ON mc.enterprise_id = i.seller_id AND mc.manager_id = :m "
    "WHERE i.status <> 'void' AND i.issue_date BETWEEN :s AND :t GROUP BY e.name"
)


@pytest.fixture(scope="module")
def db(seeded_backend: Database) -> Database:
    return seeded_backend


@pytest.fixture(scope="module")
def assistant(db: Database) -> Iterator[Assistant]:
    yield Assistant(db)


@pytest.fixture(scope="module")
def local_db(sample_db: Database) -> Database:
    """The sample data on SQLite only: for what the parser decides (the same SQL as tests that
    run on every backend), so the file's runtime stays small."""
    return sample_db


@pytest.fixture(scope="module")
def local_assistant(local_db: Database) -> Iterator[Assistant]:
    yield Assistant(local_db)


def scalar(db: Database, query: str, **params: object) -> int:
    with db.read() as conn:
        return int(conn.execute(text(query), params).scalar_one() or 0)


def grouped(db: Database, query: str, **params: object) -> dict[str, int]:
    with db.read() as conn:
        return {row[0]: int(row[1] or 0) for row in conn.execute(text(query), params)}


def yuan(fen: int) -> str:
    return f"{Decimal(fen) / 100:,.2f} 元"


def ask(assistant: Assistant, *messages: str, manager: str = ME) -> list[Reply]:
    replies, session = [], None
    for message in messages:
        reply = assistant.ask(message, manager_id=manager, session_id=session)
        session = reply.session_id
        replies.append(reply)
    return replies


def assert_answer(reply: Reply, start: str | None, end: str | None) -> None:
    """A query-layer answer: states its period, cites, and holds no unverified figure."""
    assert reply.intent == "query", reply.text
    assert reply.unverified == [], reply.text
    assert "统计口径：" in reply.text
    if start is not None:
        assert f"{start} 至 {end}" in reply.text, reply.text
    else:
        assert f"截至 {AS_OF}" in reply.text, reply.text
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", reply.text)}
    assert cited and cited <= set(range(1, len(reply.evidence) + 1))


def ranked_names(reply: Reply) -> list[str]:
    """Company names in the answer's table, top to bottom."""
    return re.findall(r"^\| \d+ \| ([^|]+?) \|", reply.text, re.MULTILINE)


# -- one company, calendar periods (5 companies x 11 periods x 2 phrasings = 110) -------------

FLOW_CASES = [
    (short, phrase, template)
    for short in COMPANIES
    for phrase in PERIODS
    for template in ("{c}{p}的开票金额是多少", "{c}{p}回款多少")
]


@pytest.mark.parametrize(("short", "phrase", "template"), FLOW_CASES)
def test_one_company_calendar_period(
    assistant: Assistant, db: Database, short: str, phrase: str, template: str
) -> None:
    (reply,) = ask(assistant, template.format(c=short, p=phrase))
    start, end = PERIODS[phrase]
    assert_answer(reply, start, end)
    sql = INVOICED if "开票" in template else INFLOW
    expected = scalar(db, sql, e=COMPANIES[short], s=start, t=end)
    assert yuan(expected) in reply.text


@pytest.mark.parametrize(
    ("question", "eid", "sql", "start", "end"),
    [
        ("華東汽車9月份的開票金額", "E0001", INVOICED, "2026-09-01", "2026-09-30"),
        ("遠航汽配今年以來的回款", "E0006", INFLOW, "2026-01-01", "2026-10-31"),
        ("恆泰精密三季度開了多少票", "E0005", INVOICED, "2026-07-01", "2026-09-30"),
        ("华东汽车2026年9月的开票张数", "E0001", INVOICE_COUNT, "2026-09-01", "2026-09-30"),
        ("华东汽车 Q3 的支出", "E0001", OUTFLOW, "2026-07-01", "2026-09-30"),
        ("顺达橡塑上半年的收入", "E0007", INFLOW, "2026-01-01", "2026-06-30"),
        ("聚力电机九月份开票额", "E0008", INVOICED, "2026-09-01", "2026-09-30"),
        ("华东汽车今年以来付款多少", "E0001", OUTFLOW, "2026-01-01", "2026-10-31"),
        ("华东汽年9月份的开票金额", "E0001", INVOICED, "2026-09-01", "2026-09-30"),  # typo
        ("远行汽配今年以来回款多少", "E0006", INFLOW, "2026-01-01", "2026-10-31"),  # typo
        ("恒太精密三季度开票多少", "E0005", INVOICED, "2026-07-01", "2026-09-30"),  # typo
    ],
)
def test_paraphrases_and_traditional_characters(
    assistant: Assistant, db: Database, question: str, eid: str, sql: str, start: str, end: str
) -> None:
    (reply,) = ask(assistant, question)
    assert_answer(reply, start, end)
    expected = scalar(db, sql, e=eid, s=start, t=end)
    value = str(expected) if sql == INVOICE_COUNT else yuan(expected)
    assert value in reply.text


def test_cash_flow_of_a_calendar_month_states_the_month_not_nine_months(
    assistant: Assistant, db: Database
) -> None:
    _, reply = ask(assistant, "华东汽车近12个月的现金流怎么样？", "他们9月份的收支情况")
    assert_answer(reply, "2026-09-01", "2026-09-30")
    for sql in (INFLOW, OUTFLOW):
        assert yuan(scalar(db, sql, e="E0001", s="2026-09-01", t="2026-09-30")) in reply.text
    assert "近9个月" not in reply.text


# -- screens over the book ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "threshold"),
    [
        ("我名下哪些供应商的应收账款超过500万", 500),
        ("哪些供应商的未结应收超过300万", 300),
        ("应收账款不低于800万的供应商有哪些", 800),
        ("我的客户里哪些供应商应收超过1000万", 1000),
        ("名下供应商应收账款超过一百万的有哪些", 100),
        ("哪些供应商应收款超过0.5亿", 5000),
    ],
)
def test_screen_by_receivables(
    assistant: Assistant, db: Database, question: str, threshold: int
) -> None:
    (reply,) = ask(assistant, question)
    assert_answer(reply, None, None)
    everyone = grouped(db, OPEN_BY_COMPANY, m=ME, role="supplier")
    limit_fen = threshold * 10_000 * 100
    expected = {n: v for n, v in everyone.items() if v > limit_fen}
    names = ranked_names(reply)
    assert set(names) == set(expected) or (len(expected) > 10 and len(names) == 10)
    for name in names:
        assert f"{name} | {yuan(expected[name])}" in reply.text
    assert names == sorted(names, key=lambda n: -expected[n])


@pytest.mark.parametrize(
    ("question", "n", "sql", "role"),
    [
        ("哪些供应商逾期金额最大，前三", 3, OVERDUE_BY_COMPANY, "supplier"),
        ("逾期金额前五的供应商", 5, OVERDUE_BY_COMPANY, "supplier"),
        ("我名下供应商逾期排名前2", 2, OVERDUE_BY_COMPANY, "supplier"),
        ("应收账款最多的三家供应商", 3, OPEN_BY_COMPANY, "supplier"),
        ("未结应收前4的经销商", 4, OPEN_BY_COMPANY, "distributor"),
        ("哪家供应商的应收账款最大", 1, OPEN_BY_COMPANY, "supplier"),
        ("经销商里谁的应收最多", 1, OPEN_BY_COMPANY, "distributor"),
    ],
)
def test_rankings(
    assistant: Assistant, db: Database, question: str, n: int, sql: str, role: str
) -> None:
    (reply,) = ask(assistant, question)
    assert_answer(reply, None, None)
    everyone = grouped(db, sql, m=ME, role=role)
    expected = sorted(everyone, key=lambda k: -everyone[k])[:n]
    assert ranked_names(reply) == expected
    for name in expected:
        assert yuan(everyone[name]) in reply.text


@pytest.mark.parametrize(
    ("question", "start", "end", "n", "role"),
    [
        ("今年以来订单金额最多的前三家经销商", "2026-01-01", "2026-10-31", 3, "distributor"),
        ("三季度订单金额前两名的经销商", "2026-07-01", "2026-09-30", 2, "distributor"),
        ("9月份哪家经销商订单最多", "2026-09-01", "2026-09-30", 1, "distributor"),
    ],
)
def test_ranking_within_a_calendar_period(
    assistant: Assistant, db: Database, question: str, start: str, end: str, n: int, role: str
) -> None:
    (reply,) = ask(assistant, question)
    assert_answer(reply, start, end)
    everyone = grouped(db, ORDERS_BY_COMPANY, m=ME, s=start, t=end, role=role)
    expected = sorted(everyone, key=lambda k: -everyone[k])[:n]
    assert ranked_names(reply) == expected


def test_financing_balance_ranking_and_the_tie_question(assistant: Assistant, db: Database) -> None:
    everyone = grouped(db, BALANCE_BY_COMPANY, m=ME)
    top = max(everyone, key=lambda k: everyone[k])
    (reply,) = ask(assistant, "我的客户里谁的融资余额最高")
    assert_answer(reply, None, None)
    assert ranked_names(reply) == [top]
    question, picked = ask(assistant, "谁的融资最多", "1")
    assert question.clarification and "融资余额" in question.text and "融资发生额" in question.text
    assert_answer(picked, None, None)
    assert ranked_names(picked) == [top]


def test_client_list_names_every_client_and_no_other(assistant: Assistant, db: Database) -> None:
    (reply,) = ask(assistant, "我名下有哪些客户？")
    assert_answer(reply, "2025-11-01", "2026-10-31")
    with db.read() as conn:
        mine = {r[0] for r in conn.execute(text(
            "SELECT e.name FROM enterprises e JOIN manager_clients mc ON mc.enterprise_id = e.id "
            "WHERE mc.manager_id = :m"), {"m": ME})}  # fmt: skip
    billed = grouped(db, INVOICED_BY_COMPANY, m=ME, s="2025-11-01", t="2026-10-31")
    assert set(ranked_names(reply)) == {n for n in mine if n in billed}


# -- invoice lists -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "n", "start", "end"),
    [
        ("华东汽车9月份金额最大的三张发票是哪几张", 3, "2026-09-01", "2026-09-30"),
        ("远航汽配今年以来最大的5张发票", 5, "2026-01-01", "2026-10-31"),
        ("恒泰精密上个月金额最大的两张发票", 2, "2026-09-01", "2026-09-30"),
    ],
)
def test_largest_invoices_are_the_largest(
    assistant: Assistant, db: Database, question: str, n: int, start: str, end: str
) -> None:
    (reply,) = ask(assistant, question)
    assert_answer(reply, start, end)
    short = next(s for s in COMPANIES if s in question)
    with db.read() as conn:
        rows = conn.execute(text(
            "SELECT invoice_no, amount + tax FROM invoices WHERE seller_id = :e "
            "AND status <> 'void' AND issue_date BETWEEN :s AND :t "
            "ORDER BY amount + tax DESC, invoice_no"), {"e": COMPANIES[short], "s": start, "t": end},
        ).all()  # fmt: skip
    shown = re.findall(r"(?<!\d)\d{20}(?!\d)", reply.text)
    assert shown == [r[0] for r in rows[:n]]
    assert "按开票金额（含税）从高到低" in reply.text
    for row in rows[:n]:
        assert yuan(int(row[1])) in reply.text


# -- follow-ups ----------------------------------------------------------------------------------


def test_follow_ups_change_only_what_they_name(assistant: Assistant, db: Database) -> None:
    first, ytd, monthly, other, same_q3 = ask(
        assistant,
        "华东汽车9月份的开票金额是多少",
        "那今年以来呢",
        "按月拆开看看",
        "那远航汽配呢",
        "那三季度呢",
    )
    assert_answer(first, "2026-09-01", "2026-09-30")
    assert_answer(ytd, "2026-01-01", "2026-10-31")
    assert yuan(scalar(db, INVOICED, e="E0001", s="2026-01-01", t="2026-10-31")) in ytd.text
    assert_answer(monthly, "2026-01-01", "2026-10-31")
    assert "按时间先后排列" in monthly.text
    months = re.findall(r"^\| \d+ \| (2026-\d\d) \|", monthly.text, re.MULTILINE)
    assert months == sorted(months) and len(months) == 10
    assert yuan(scalar(db, INVOICED, e="E0001", s="2026-03-01", t="2026-03-31")) in monthly.text
    assert_answer(other, "2026-01-01", "2026-10-31")
    assert "宁波远航汽车零部件有限公司" in other.text
    assert yuan(scalar(db, INVOICED, e="E0006", s="2026-07-01", t="2026-07-31")) in other.text
    assert_answer(same_q3, "2026-07-01", "2026-09-30")


def test_only_overdue_follow_up_keeps_the_screened_companies(
    assistant: Assistant, db: Database
) -> None:
    _, overdue = ask(assistant, "我名下哪些供应商的应收账款超过500万", "只看逾期的")
    assert_answer(overdue, None, None)
    assert "未结应收金额>5,000,000.00 元" in overdue.text  # the screen is stated, and kept
    screened = grouped(db, OPEN_BY_COMPANY, m=ME, role="supplier")
    everyone = grouped(db, OVERDUE_BY_COMPANY, m=ME, role="supplier")
    kept = {n: v for n, v in everyone.items() if screened.get(n, 0) > 500 * 10_000 * 100}
    assert kept and len(kept) < len(everyone)
    assert ranked_names(overdue) == sorted(kept, key=lambda k: -kept[k])
    for name, value in kept.items():
        assert f"{name} | {yuan(value)}" in overdue.text


def test_year_on_year(assistant: Assistant, db: Database) -> None:
    _, compared = ask(assistant, "恒泰精密三季度开票多少", "同比呢")
    assert_answer(compared, "2026-07-01", "2026-09-30")
    assert "2025-07-01 至 2025-09-30" in compared.text
    assert yuan(scalar(db, INVOICED, e="E0005", s="2025-07-01", t="2025-09-30")) in compared.text


def test_a_comparison_broken_down_by_month_or_quarter_sets_like_beside_like(
    assistant: Assistant, db: Database
) -> None:
    *_, months, quarters, previous = ask(
        assistant, "恒泰精密上半年开了多少发票", "同比呢", "按月拆开看看", "按季度看看", "环比呢"
    )
    assert_answer(months, "2026-01-01", "2026-06-30")
    for month in range(1, 7):
        now = scalar(db, INVOICE_COUNT, e="E0005", s=f"2026-{month:02d}-01",
                     t=f"2026-{month:02d}-{monthrange(2026, month)[1]:02d}")  # fmt: skip
        ago = scalar(db, INVOICE_COUNT, e="E0005", s=f"2025-{month:02d}-01",
                     t=f"2025-{month:02d}-{monthrange(2025, month)[1]:02d}")  # fmt: skip
        assert f"| 2026-{month:02d} | {now} 张 | {ago} 张" in months.text, months.text
    for q, (s, t) in enumerate([("01-01", "03-31"), ("04-01", "06-30")]):
        now = scalar(db, INVOICE_COUNT, e="E0005", s=f"2026-{s}", t=f"2026-{t}")
        ago = scalar(db, INVOICE_COUNT, e="E0005", s=f"2025-{s}", t=f"2025-{t}")
        assert f"2026年第{'一二'[q]}季度 | {now} 张 | {ago} 张" in quarters.text, quarters.text
    assert "2025-07-01 至 2025-12-31" in previous.text  # 环比 of a half year: the half before
    for q, (s, t) in enumerate([("2025-07-01", "2025-09-30"), ("2025-10-01", "2025-12-31")]):
        before = scalar(db, INVOICE_COUNT, e="E0005", s=s, t=t)
        now = scalar(db, INVOICE_COUNT, e="E0005", s=f"2026-{q * 3 + 1:02d}-01",
                     t=["2026-03-31", "2026-06-30"][q])  # fmt: skip
        assert f"2026年第{'一二'[q]}季度 | {now} 张 | {before} 张" in previous.text, previous.text


def test_a_handler_turn_then_a_calendar_month(assistant: Assistant, db: Database) -> None:
    _, reply = ask(assistant, "远航汽配近12个月的现金流怎么样？", "那6月份呢")
    assert_answer(reply, "2026-06-01", "2026-06-30")
    assert yuan(scalar(db, INFLOW, e="E0006", s="2026-06-01", t="2026-06-30")) in reply.text


# -- what the query layer leaves alone -----------------------------------------------------------


@pytest.mark.parametrize(
    "question",
    [
        "质押率一般多少",
        "反向保理是什么？",
        "华东汽车近12个月的现金流怎么样？",
        "你好",
        "给恒泰精密推荐一个融资产品",
        "比较三家核心企业的逾期率",
    ],
)
def test_questions_the_query_layer_does_not_claim(assistant: Assistant, question: str) -> None:
    (reply,) = ask(assistant, question)
    assert reply.intent != "query"


# -- scope: a screen never names another manager's client -----------------------------------------


def _others(db: Database, manager: str) -> set[str]:
    with db.read() as conn:
        return {r[0] for r in conn.execute(text(
            "SELECT name FROM enterprises WHERE id NOT IN "
            "(SELECT enterprise_id FROM manager_clients WHERE manager_id = :m)"), {"m": manager})}  # fmt: skip


@pytest.mark.parametrize("manager", ["M001", "M002"])
@pytest.mark.parametrize(
    "question",
    [
        "我名下有哪些客户？",
        "哪些供应商的应收账款超过100万",
        "开票金额前十的企业",
        "谁的融资余额最高",
    ],
)
def test_screens_stay_in_scope_in_chat(
    assistant: Assistant, db: Database, manager: str, question: str
) -> None:
    (reply,) = ask(assistant, question, manager=manager)
    assert reply.intent == "query"
    names = ranked_names(reply)
    assert names and not set(names) & _others(db, manager)


def test_the_model_tool_stays_in_scope(db: Database) -> None:
    from datetime import date

    tool = get_tool("query_data")
    ctx = ToolContext(db, Caller("M002"), date(2026, 10, 31))
    result = tool.run(ctx, {"metrics": ["invoice_amount"], "group_by": ["enterprise"]})
    with db.read() as conn:
        mine = {r[0] for r in conn.execute(text(
            "SELECT enterprise_id FROM manager_clients WHERE manager_id = 'M002'"))}  # fmt: skip
    assert result.data["rows"] and {r["enterprise"] for r in result.data["rows"]} <= mine
    from finassist.errors import NotFound

    with pytest.raises(NotFound):  # M001's client, asked for by id: as if it did not exist
        tool.run(ctx, {"metrics": ["invoice_amount"],
                       "filters": [{"dimension": "enterprise", "values": ["E0001"]}]})  # fmt: skip


# -- mislabels (issue 14) ------------------------------------------------------------------------


def test_overdue_figure_is_cited_to_the_overdue_metric_and_the_list_heading_is_true(
    assistant: Assistant,
) -> None:
    (reply,) = ask(assistant, "远航汽配还有哪些应收发票没付？")
    cite = re.search(r"逾期金额 ([\d,.]+) 元((?:\[\d+\])+)", reply.text)
    assert cite
    for n in re.findall(r"\d+", cite.group(2)):
        item = reply.evidence[int(n) - 1]
        assert item.kind == "metric", item.text
    assert "按逾期天数排序" not in reply.text
    dues = re.findall(r"到期日 (\d{4}-\d\d-\d\d)", reply.text)
    assert dues == sorted(dues) and "按到期日先后排列" in reply.text


def test_a_suppliers_buyer_is_called_a_core_enterprise(assistant: Assistant) -> None:
    (reply,) = ask(assistant, "恒泰精密的基本情况")
    assert "华东汽车集团股份有限公司（核心企业" in reply.text
    assert "华东汽车集团股份有限公司（供应商" not in reply.text


# -- issue 14, second pass: misreadings found when tried as a manager would -----------------------

OPEN_ISSUED = (
    "SELECT COALESCE(SUM(amount + tax - paid_amount), 0) FROM invoices WHERE seller_id = :e "
    "AND status IN ('unpaid', 'partial') AND issue_date BETWEEN :s AND :t"
)
OVERDUE_ISSUED = OPEN_ISSUED.replace("AND issue_date", f"AND due_date < '{AS_OF}' AND issue_date")
CLIENTS = (
    "SELECT e.name FROM enterprises e JOIN manager_clients mc ON mc.enterprise_id = e.id "
    "WHERE mc.manager_id = :m AND e.role LIKE :role AND e.region LIKE :region"
)


def names_of(db: Database, query: str, **params: object) -> set[str]:
    with db.read() as conn:
        return {row[0] for row in conn.execute(text(query), params)}


def test_invoice_count_in_a_quarter_and_its_follow_up(assistant: Assistant, db: Database) -> None:
    q3, half = ask(assistant, "恒泰精密三季度开了多少发票", "那上半年呢")
    assert_answer(q3, "2026-07-01", "2026-09-30")
    n = scalar(db, INVOICE_COUNT, e="E0005", s="2026-07-01", t="2026-09-30")
    assert f"开票张数 {n} 张" in q3.text
    assert_answer(half, "2026-01-01", "2026-06-30")  # the count, not the open amount
    n = scalar(db, INVOICE_COUNT, e="E0005", s="2026-01-01", t="2026-06-30")
    assert f"开票张数 {n} 张" in half.text and "未结" not in half.text


TEMPLATED_PERIODS = {
    "9月份": ("2026-09-01", "2026-09-30"),
    "2026年9月": ("2026-09-01", "2026-09-30"),
    "上个月": ("2026-09-01", "2026-09-30"),
    "今年以来": ("2026-01-01", "2026-10-31"),
}


@pytest.mark.parametrize("phrase", list(TEMPLATED_PERIODS))
@pytest.mark.parametrize(
    ("template", "sql"),
    [
        ("{c}{p}的收支情况", INFLOW),  # 收支 / 现金流
        ("{c}{p}的逾期情况", OVERDUE_ISSUED),  # 逾期
        ("{c}{p}的基本情况", INVOICED),  # 画像
        ("{c}{p}开了几张发票", INVOICE_COUNT),  # 应收发票
    ],
)
def test_templated_topics_with_a_calendar_period_state_that_period(
    local_assistant: Assistant, local_db: Database, phrase: str, template: str, sql: str
) -> None:
    (reply,) = ask(local_assistant, template.format(c="顺达橡塑", p=phrase))
    start, end = TEMPLATED_PERIODS[phrase]
    assert_answer(reply, start, end)
    expected = scalar(local_db, sql, e="E0007", s=start, t=end)
    assert (str(expected) if sql == INVOICE_COUNT else yuan(expected)) in reply.text
    assert not re.search(r"近\d+个月", reply.text)


def test_open_invoices_of_a_calendar_month_are_listed(assistant: Assistant, db: Database) -> None:
    (reply,) = ask(assistant, "顺达橡塑上个月有哪些应收发票")
    assert_answer(reply, "2026-09-01", "2026-09-30")
    with db.read() as conn:
        rows = conn.execute(text(
            "SELECT invoice_no, amount + tax - paid_amount FROM invoices WHERE seller_id = 'E0007' "
            "AND status IN ('unpaid', 'partial') AND issue_date BETWEEN '2026-09-01' AND "
            "'2026-09-30' ORDER BY amount + tax - paid_amount DESC, invoice_no")).all()  # fmt: skip
    assert rows
    assert re.findall(r"(?<!\d)\d{20}(?!\d)", reply.text) == [r[0] for r in rows[:5]]
    assert "按未结应收金额从高到低" in reply.text


@pytest.mark.parametrize(
    ("question", "compare"),
    [
        ("顺达橡塑三季度的现金流同比", ("2025-07-01", "2025-09-30")),
        ("顺达橡塑9月份收支环比", ("2026-08-01", "2026-08-31")),
        ("顺达橡塑9月份的回款和去年同期比", ("2025-09-01", "2025-09-30")),
    ],
)
def test_comparisons_state_both_periods(
    assistant: Assistant, db: Database, question: str, compare: tuple[str, str]
) -> None:
    (reply,) = ask(assistant, question)
    assert reply.intent == "query", reply.text
    assert f"{compare[0]} 至 {compare[1]}" in reply.text
    assert yuan(scalar(db, INFLOW, e="E0007", s=compare[0], t=compare[1])) in reply.text


def test_a_balance_is_not_compared_and_says_so(assistant: Assistant) -> None:
    (reply,) = ask(assistant, "顺达橡塑的逾期金额同比")
    assert_answer(reply, None, None)
    assert "不能做同比或环比" in reply.text


@pytest.mark.parametrize(
    ("question", "role", "region"),
    [
        ("我名下有几家经销商", "distributor", "%"),
        ("我名下有多少家供应商？", "supplier", "%"),
        ("我的核心企业有几个", "core", "%"),
        ("江苏的供应商有多少家", "supplier", "%江苏%"),
        ("我一共有多少个客户", "%", "%"),
        ("我名下經銷商有幾家", "distributor", "%"),  # 繁体
    ],
)
@pytest.mark.parametrize("manager", ["M001", "M002"])
def test_counts_over_the_book(
    assistant: Assistant, db: Database, question: str, role: str, region: str, manager: str
) -> None:
    (reply,) = ask(assistant, question, manager=manager)
    assert_answer(reply, None, None)
    expected = names_of(db, CLIENTS, m=manager, role=role, region=region)
    assert f"共 {len(expected)} 家企业" in reply.text
    assert {re.sub(r"\[\d+\]", "", n) for n in ranked_names(reply)} == expected
    assert "按" not in reply.text.splitlines()[0]  # no order is claimed for a plain count


def test_a_count_of_a_screen(assistant: Assistant, db: Database) -> None:
    (reply,) = ask(assistant, "应收账款超过500万的供应商有几家")
    assert_answer(reply, None, None)
    everyone = grouped(db, OPEN_BY_COMPANY, m=ME, role="supplier")
    expected = {n for n, v in everyone.items() if v > 500 * 10_000 * 100}
    assert f"共 {len(expected)} 家企业" in reply.text
    assert set(ranked_names(reply)) == expected


def test_a_metric_switch_keeps_the_screen(assistant: Assistant, db: Database) -> None:
    _, switched, other = ask(
        assistant, "哪些供应商的应收账款超过500万", "那逾期金额呢", "逾期超过100万的呢"
    )
    assert_answer(switched, None, None)
    screened = grouped(db, OPEN_BY_COMPANY, m=ME, role="supplier")
    overdue = grouped(db, OVERDUE_BY_COMPANY, m=ME, role="supplier")
    kept = {n for n, v in screened.items() if v > 500 * 10_000 * 100}
    assert "未结应收金额>5,000,000.00 元" in switched.text
    assert "按逾期应收金额从高到低" in switched.text
    names = ranked_names(switched)
    assert set(names) == kept
    assert [overdue.get(n, 0) for n in names] == sorted(
        (overdue.get(n, 0) for n in names), reverse=True
    )
    for name in names:
        assert f"{name} | {yuan(overdue.get(name, 0))} | {yuan(screened[name])}" in switched.text
    # A follow-up that names its own threshold replaces the old one.
    assert_answer(other, None, None)
    assert "逾期应收金额>1,000,000.00 元" in other.text and "未结应收金额>" not in other.text
    assert set(ranked_names(other)) == {n for n, v in overdue.items() if v > 100 * 10_000 * 100}


KNOWLEDGE_QUESTIONS = [
    "质押率一般多少",
    "保理和福费廷有什么区别",
    "应收账款质押登记在哪里办",
    "授信额度一般多大",
    "应收账款质押率一般是多少？",
]


@pytest.mark.parametrize("question", KNOWLEDGE_QUESTIONS)
def test_knowledge_questions_are_not_company_lookups(
    local_assistant: Assistant, question: str
) -> None:
    (reply,) = ask(local_assistant, question)
    assert reply.intent == "knowledge", reply.text
    assert "未找到企业" not in reply.text and "没有完全理解" not in reply.text
    assert "知识库" in reply.text  # no knowledge base here: it says so and what to do


def test_knowledge_questions_with_a_knowledge_base(sample_db: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    from finassist.config import Settings
    from finassist.kb import KnowledgeBase
    from finassist.kb.sample import load_sample
    from finassist.nlp.intent import IntentRouter
    from finassist.runtime import build_assistant

    path = tmp_path / "kb.db"
    path.write_bytes(Path(sample_db.url.removeprefix("sqlite:///")).read_bytes())
    db = Database(f"sqlite:///{path}")
    kb = KnowledgeBase(db)
    load_sample(kb, ids=("glossary",))
    for router in (IntentRouter.default(), IntentRouter.rules_only()):
        assistant = build_assistant(
            Settings(), db=db, kb=kb, web=None, backend=None, intents=router
        )
        for question in KNOWLEDGE_QUESTIONS:
            (reply,) = ask(assistant, question)
            assert reply.intent == "knowledge", (question, reply.text)
            assert "未找到企业" not in reply.text and "没有完全理解" not in reply.text
            found = reply.evidence and all(e.kind == "passage" for e in reply.evidence)
            assert found or "知识库中没有找到" in reply.text, reply.text
    db.dispose()


@pytest.mark.parametrize(
    ("question", "n", "metric_sql", "role", "ascending"),
    [
        ("回款最慢的三家供应商", 3, "collection", "supplier", False),
        ("开票金额最高的两家经销商", 2, "invoiced", "distributor", False),
        ("逾期最严重的供应商是哪家", 1, "overdue", "supplier", False),
    ],
)
def test_superlatives_with_a_count(
    local_assistant: Assistant, local_db: Database, question: str, n: int, metric_sql: str, role: str,
    ascending: bool,
) -> None:  # fmt: skip
    (reply,) = ask(local_assistant, question)
    if metric_sql == "collection":
        assert_answer(reply, "2025-11-01", "2026-10-31")
        sql = (
            "SELECT e.name, SUM((i.amount + i.tax) * (julianday(i.paid_date) - "
            "julianday(i.issue_date))) * 1.0 / SUM(i.amount + i.tax) FROM invoices i "
            "JOIN enterprises e ON e.id = i.seller_id JOIN manager_clients mc ON "
            "mc.enterprise_id = i.seller_id AND mc.manager_id = :m WHERE i.status = 'paid' "
            "AND i.paid_date BETWEEN :s AND :t AND e.role = :role GROUP BY e.name"
        )
        if local_db.engine.dialect.name != "sqlite":
            pytest.skip("julianday is SQLite's; the ranking is the same query on every backend")
        with local_db.read() as conn:
            rows = dict(conn.execute(text(sql), {"m": ME, "s": "2025-11-01", "t": "2026-10-31",
                                                 "role": role}).all())  # fmt: skip
        expected = sorted(rows, key=lambda k: -rows[k])[:n]
        assert "按平均回款天数从高到低" in reply.text
    else:
        start, end = ("2025-11-01", "2026-10-31") if metric_sql == "invoiced" else (None, None)
        assert_answer(reply, start, end)
        if metric_sql == "invoiced":
            everyone = grouped(local_db, INVOICED_BY_COMPANY.replace(
                "GROUP BY", "AND e.role = :role GROUP BY"), m=ME, s=start, t=end, role=role)  # fmt: skip
        else:
            everyone = grouped(local_db, OVERDUE_BY_COMPANY, m=ME, role=role)
        expected = sorted(everyone, key=lambda k: -everyone[k])[:n]
    assert ranked_names(reply) == expected


def test_grouped_by_industry_lists_industries(assistant: Assistant, db: Database) -> None:
    (reply,) = ask(assistant, "按行业看我名下的开票金额")
    assert_answer(reply, "2025-11-01", "2026-10-31")
    with db.read() as conn:
        rows = dict(conn.execute(text(
            "SELECT e.industry, SUM(i.amount + i.tax) FROM invoices i JOIN enterprises e ON "
            "e.id = i.seller_id JOIN manager_clients mc ON mc.enterprise_id = i.seller_id AND "
            "mc.manager_id = :m WHERE i.status <> 'void' AND i.issue_date BETWEEN '2025-11-01' "
            "AND '2026-10-31' GROUP BY e.industry"), {"m": ME}).all())  # fmt: skip
    assert ranked_names(reply) == sorted(rows, key=lambda k: -rows[k])[:10]
    assert "| 企业 |" not in reply.text


@pytest.mark.parametrize(
    ("question", "sql", "start", "end"),
    [
        ("我名下的供应商9月开票金额合计多少", INVOICED_BY_COMPANY, "2026-09-01", "2026-09-30"),
        ("所有经销商今年以来的回款总额", INFLOW, "2026-01-01", "2026-10-31"),
    ],
)
def test_totals_over_the_book(
    assistant: Assistant, db: Database, question: str, sql: str, start: str, end: str
) -> None:
    (reply,) = ask(assistant, question)
    assert_answer(reply, start, end)
    role = "supplier" if "供应商" in question else "distributor"
    with db.read() as conn:
        ids = [r[0] for r in conn.execute(text(
            "SELECT e.id FROM enterprises e JOIN manager_clients mc ON mc.enterprise_id = e.id "
            "WHERE mc.manager_id = :m AND e.role = :role"), {"m": ME, "role": role})]  # fmt: skip
    one = INVOICED if sql is INVOICED_BY_COMPANY else INFLOW
    total = sum(scalar(db, one, e=i, s=start, t=end) for i in ids)
    assert "您名下的客户：" in reply.text and yuan(total) in reply.text
    assert "|" not in reply.text  # one figure, not a list


def test_a_named_companys_suppliers_and_customers(assistant: Assistant, db: Database) -> None:
    suppliers, buyers = (
        ask(assistant, "华东汽车的供应商今年以来开票金额前三"),
        ask(assistant, "恒泰精密的客户开票金额排名"),
    )
    (suppliers,), (buyers,) = suppliers, buyers
    assert_answer(suppliers, "2026-01-01", "2026-10-31")
    with db.read() as conn:
        rows = dict(conn.execute(text(
            "SELECT e.name, SUM(i.amount + i.tax) FROM invoices i JOIN enterprises e ON "
            "e.id = i.seller_id JOIN manager_clients mc ON mc.enterprise_id = i.seller_id AND "
            "mc.manager_id = :m WHERE i.status <> 'void' AND i.buyer_id = 'E0001' AND "
            "e.role = 'supplier' AND i.issue_date BETWEEN '2026-01-01' AND '2026-10-31' "
            "GROUP BY e.name"), {"m": ME}).all())  # fmt: skip
        billed = dict(conn.execute(text(
            "SELECT e.name, SUM(i.amount + i.tax) FROM invoices i JOIN enterprises e ON "
            "e.id = i.buyer_id WHERE i.status <> 'void' AND i.seller_id = 'E0005' AND "
            "i.issue_date BETWEEN '2025-11-01' AND '2026-10-31' GROUP BY e.name")).all())  # fmt: skip
    assert ranked_names(suppliers) == sorted(rows, key=lambda k: -rows[k])[:3]
    assert "交易对手：华东汽车集团股份有限公司" in suppliers.text
    assert_answer(buyers, "2025-11-01", "2026-10-31")
    assert ranked_names(buyers) == sorted(billed, key=lambda k: -billed[k])
    for name, value in billed.items():
        assert f"{name} | {yuan(int(value))}" in buyers.text


def test_splitting_a_one_month_answer_widens_the_period_and_keeps_time_order(
    assistant: Assistant, db: Database
) -> None:
    _, quarters = ask(assistant, "远航汽配9月份开票金额", "按季度看看")
    assert_answer(quarters, "2026-01-01", "2026-10-31")
    assert "已放宽为" in quarters.text and "按时间先后排列" in quarters.text
    labels = re.findall(r"^\| \d+ \| (2026年第.季度[^|]*?) \|", quarters.text, re.MULTILINE)
    assert labels == [f"2026年第{q}季度" for q in "一二三"] + [
        "2026年第四季度（截至 2026-10-31，不满整季）"  # the open quarter says it is partial
    ]
    q2 = scalar(db, INVOICED, e="E0006", s="2026-04-01", t="2026-06-30")
    assert f"| 2026年第二季度 | {yuan(q2)}" in quarters.text


@pytest.mark.parametrize(
    ("question", "eid", "sql", "start", "end"),
    [
        ("遠航汽配上個月的回款", "E0006", INFLOW, "2026-09-01", "2026-09-30"),
        ("华东汽车九月分的开票金额", "E0001", INVOICED, "2026-09-01", "2026-09-30"),  # 分 for 份
        ("恒泰精蜜今年以来开票多少", "E0005", INVOICED, "2026-01-01", "2026-10-31"),  # typo
        ("远航汽配去年全年回款", "E0006", INFLOW, "2025-01-01", "2025-12-31"),
        ("远航汽配2025年四季度开票", "E0006", INVOICED, "2025-10-01", "2025-12-31"),
        ("聚力电机第二季度开了几张发票", "E0008", INVOICE_COUNT, "2026-04-01", "2026-06-30"),
        ("顺达橡塑今年一季度的支出", "E0007", OUTFLOW, "2026-01-01", "2026-03-31"),
        ("华东汽车今年上半年付了多少钱", "E0001", OUTFLOW, "2026-01-01", "2026-06-30"),
        ("華東汽車本月開票張數", "E0001", INVOICE_COUNT, "2026-10-01", "2026-10-31"),
    ],
)
def test_more_paraphrases(
    local_assistant: Assistant,
    local_db: Database,
    question: str,
    eid: str,
    sql: str,
    start: str,
    end: str,
) -> None:
    (reply,) = ask(local_assistant, question)
    assert_answer(reply, start, end)
    expected = scalar(local_db, sql, e=eid, s=start, t=end)
    assert (f"{expected} 张" if sql == INVOICE_COUNT else yuan(expected)) in reply.text


@pytest.mark.parametrize(
    ("question", "start", "end"),
    [
        ("远航汽配8、9月的开票金额", "2026-08-01", "2026-09-30"),
        ("远航汽配7到9月的开票金额", "2026-07-01", "2026-09-30"),
        ("远航汽配2025年10月至12月开票多少", "2025-10-01", "2025-12-31"),
    ],
)
def test_a_range_of_months_is_not_its_last_month(
    local_assistant: Assistant, local_db: Database, question: str, start: str, end: str
) -> None:
    (reply,) = ask(local_assistant, question)
    assert_answer(reply, start, end)
    assert yuan(scalar(local_db, INVOICED, e="E0006", s=start, t=end)) in reply.text


def test_a_suppliers_orders_are_the_orders_it_received(assistant: Assistant, db: Database) -> None:
    one, ranked = (
        ask(assistant, "远航汽配二季度的订单"),
        ask(assistant, "今年以来订单最多的三家供应商"),
    )
    (one,), (ranked,) = one, ranked
    received = (
        "SELECT COALESCE(SUM(amount), 0) FROM orders WHERE seller_id = :e "
        "AND status <> 'cancelled' AND order_date BETWEEN :s AND :t"
    )
    assert_answer(one, "2026-04-01", "2026-06-30")
    value = scalar(db, received, e="E0006", s="2026-04-01", t="2026-06-30")
    assert value > 0 and f"接单金额 {yuan(value)}" in one.text
    assert_answer(ranked, "2026-01-01", "2026-10-31")
    by_company = grouped(db, ORDERS_BY_COMPANY.replace("o.buyer_id", "o.seller_id"),
                         m=ME, s="2026-01-01", t="2026-10-31", role="supplier")  # fmt: skip
    assert ranked_names(ranked) == sorted(by_company, key=lambda k: -by_company[k])[:3]


def test_largest_customers_in_a_calendar_period(assistant: Assistant, db: Database) -> None:
    (reply,) = ask(assistant, "华东汽车今年以来前五大客户占比")
    assert_answer(reply, "2026-01-01", "2026-10-31")
    with db.read() as conn:
        billed = dict(conn.execute(text(
            "SELECT e.name, SUM(i.amount + i.tax) FROM invoices i JOIN enterprises e ON "
            "e.id = i.buyer_id WHERE i.status <> 'void' AND i.seller_id = 'E0001' AND "
            "i.issue_date BETWEEN '2026-01-01' AND '2026-10-31' GROUP BY e.name")).all())  # fmt: skip
    assert ranked_names(reply) == sorted(billed, key=lambda k: -billed[k])[:5]
    whole = sum(Decimal(v) for v in billed.values())  # 占比: of all its buyers, not of the five
    for name in ranked_names(reply):
        ratio = (Decimal(billed[name]) / whole).quantize(Decimal("0.0001"))
        assert f" | {ratio * 100:.2f}%" in reply.text, (name, reply.text)


def _someone_elses(db: Database, role: str) -> str:
    """The short name of an enterprise of ``role`` that is not M001's client."""
    with db.read() as conn:
        return str(conn.execute(text(
            "SELECT short_name FROM enterprises WHERE role = :role AND id NOT IN "
            "(SELECT enterprise_id FROM manager_clients WHERE manager_id = :m) ORDER BY id"),
            {"role": role, "m": ME}).scalars().first())  # fmt: skip


@pytest.mark.parametrize(
    "template",
    [
        "{x}的供应商今年以来开票金额前三",
        "{x}的供应商有多少家",
        "我名下有几家{x}的供应商",
    ],
)
def test_another_managers_client_named_in_a_screen_is_not_found(
    local_assistant: Assistant, local_db: Database, template: str
) -> None:
    other = _someone_elses(local_db, "core")
    (reply,) = ask(local_assistant, template.format(x=other))
    assert reply.intent == "not_found", reply.text
    assert f"未找到企业“{other}”" in reply.text and "|" not in reply.text
    (nobody,) = ask(local_assistant, template.format(x="凌云重工"))
    assert nobody.intent == "not_found"  # the same answer as for a company that does not exist


def test_switching_to_a_company_one_cannot_see_is_not_the_last_answer_again(
    local_assistant: Assistant, local_db: Database
) -> None:
    other = _someone_elses(local_db, "supplier")
    first, hidden, partial = ask(
        local_assistant, "远航汽配9月份开票金额", f"那{other}呢", "那恒泰呢"
    )
    assert_answer(first, "2026-09-01", "2026-09-30")
    assert hidden.intent == "not_found" and f"未找到企业“{other}”" in hidden.text
    assert_answer(partial, "2026-09-01", "2026-09-30")  # a short name of one company
    assert "苏州恒泰精密机械有限公司" in partial.text
    assert (
        yuan(scalar(local_db, INVOICED, e="E0005", s="2026-09-01", t="2026-09-30")) in partial.text
    )


def test_which_company_then_the_pick_answers_the_same_query(
    local_assistant: Assistant, local_db: Database
) -> None:
    _, question, picked, half = ask(
        local_assistant, "远航汽配9月份开票金额", "那华信呢", "2", "那上半年呢"
    )
    assert question.clarification and "华信" in question.text
    assert_answer(picked, "2026-09-01", "2026-09-30")
    with local_db.read() as conn:
        second = conn.execute(text(
            "SELECT id FROM enterprises WHERE name = :n"),
            {"n": re.search(r"2\. (\S+?)（", question.text.replace("；", "（")).group(1)},
        ).scalar_one()  # fmt: skip
    assert yuan(scalar(local_db, INVOICED, e=second, s="2026-09-01", t="2026-09-30")) in picked.text
    assert_answer(half, "2026-01-01", "2026-06-30")
    assert yuan(scalar(local_db, INVOICED, e=second, s="2026-01-01", t="2026-06-30")) in half.text


def test_a_role_follow_up_after_one_company_screens_that_role(
    assistant: Assistant, db: Database
) -> None:
    _, screen, top = ask(assistant, "远航汽配9月份开票金额", "那经销商呢", "那前三呢")
    assert_answer(screen, "2026-09-01", "2026-09-30")
    everyone = grouped(db, INVOICED_BY_COMPANY.replace("GROUP BY", "AND e.role = :role GROUP BY"),
                       m=ME, s="2026-09-01", t="2026-09-30", role="distributor")  # fmt: skip
    ranked = sorted(everyone, key=lambda k: -everyone[k])
    assert ranked_names(screen) == ranked[:10]
    assert "宁波远航" not in screen.text
    assert_answer(top, "2026-09-01", "2026-09-30")
    assert ranked_names(top) == ranked[:3]


def test_overdue_by_more_than_n_days_is_a_filter_not_an_amount(
    assistant: Assistant, db: Database
) -> None:
    (screen,) = ask(assistant, "哪些供应商逾期超过60天的金额最大")
    (listed,) = ask(assistant, "顺达橡塑逾期90天以上的发票有哪些")
    _, follow = ask(assistant, "顺达橡塑的逾期金额", "只看逾期超过90天的")
    for reply in (screen, listed, follow):
        assert_answer(reply, None, None)
        assert "逾期应收金额>" not in reply.text and "30.00 元" not in reply.text
    late = (
        "SELECT e.name, SUM(i.amount + i.tax - i.paid_amount) FROM invoices i JOIN enterprises e "
        "ON e.id = i.seller_id JOIN manager_clients mc ON mc.enterprise_id = i.seller_id AND "
        "mc.manager_id = :m WHERE i.status IN ('unpaid', 'partial') AND i.due_date < :d "
        "AND e.role = 'supplier' GROUP BY e.name"
    )
    by_60 = grouped(db, late, m=ME, d="2026-09-01")  # due before as-of minus 60 days
    assert "仅逾期超过 60 天的发票" in screen.text
    assert ranked_names(screen) == sorted(by_60, key=lambda k: -by_60[k])[:1]
    by_90 = grouped(db, late, m=ME, d="2026-08-02")
    assert f"{yuan(by_90['无锡顺达橡塑制品有限公司'])}" in follow.text
    with db.read() as conn:
        rows = conn.execute(text(
            "SELECT invoice_no FROM invoices WHERE seller_id = 'E0007' AND status IN "
            "('unpaid', 'partial') AND due_date < '2026-08-02' "
            "ORDER BY amount + tax - paid_amount DESC, invoice_no")).scalars().all()  # fmt: skip
    assert re.findall(r"(?<!\d)\d{20}(?!\d)", listed.text) == list(rows[:5])


def test_top_n_of_a_role_without_a_metric_ranks_by_sales(
    assistant: Assistant, db: Database
) -> None:
    (reply,) = ask(assistant, "前10大供应商是哪些")
    assert_answer(reply, "2025-11-01", "2026-10-31")
    everyone = grouped(db, INVOICED_BY_COMPANY.replace("GROUP BY", "AND e.role = :role GROUP BY"),
                       m=ME, s="2025-11-01", t="2026-10-31", role="supplier")  # fmt: skip
    assert ranked_names(reply) == sorted(everyone, key=lambda k: -everyone[k])[:10]


@pytest.mark.parametrize(
    ("question", "unit"),
    [("华东汽车9月的营业额", None), ("远航汽配今年每个季度的开票", "quarter")],
)
def test_more_metric_and_grouping_words(
    local_assistant: Assistant, local_db: Database, question: str, unit: str | None
) -> None:
    (reply,) = ask(local_assistant, question)
    if unit is None:
        assert_answer(reply, "2026-09-01", "2026-09-30")
        value = scalar(local_db, INVOICED, e="E0001", s="2026-09-01", t="2026-09-30")
        assert f"开票金额（含税） {yuan(value)}" in reply.text and "资金流入" not in reply.text
    else:
        assert_answer(reply, "2026-01-01", "2026-10-31")
        q3 = scalar(local_db, INVOICED, e="E0006", s="2026-07-01", t="2026-09-30")
        assert f"| 2026年第三季度 | {yuan(q3)}" in reply.text


@pytest.mark.parametrize(
    ("question", "now", "before", "descending"),
    [
        ("今年以来开票金额同比增长最多的三家供应商", ("2026-01-01", "2026-10-31"),
         ("2025-01-01", "2025-10-31"), True),
        ("三季度开票金额环比下降最多的两家供应商", ("2026-07-01", "2026-09-30"),
         ("2026-04-01", "2026-06-30"), False),
    ],
)  # fmt: skip
def test_ranked_by_the_change(
    assistant: Assistant, db: Database, question: str, now: tuple[str, str],
    before: tuple[str, str], descending: bool,
) -> None:  # fmt: skip
    (reply,) = ask(assistant, question)
    assert_answer(reply, *now)
    assert f"{before[0]} 至 {before[1]}" in reply.text and "较对比期的增加额" in reply.text
    sql = INVOICED_BY_COMPANY.replace("GROUP BY", "AND e.role = 'supplier' GROUP BY")
    current = grouped(db, sql, m=ME, s=now[0], t=now[1])
    previous = grouped(db, sql, m=ME, s=before[0], t=before[1])
    change = {n: current.get(n, 0) - previous.get(n, 0) for n in set(current) | set(previous)}
    n = 3 if descending else 2
    expected = sorted(change, key=lambda k: -change[k] if descending else change[k])[:n]
    assert ranked_names(reply) == expected
    for name in expected:
        assert yuan(change[name]).replace("-", "") in reply.text.replace("-", "")


def test_monthly_collections_and_dso_are_the_query_layers(
    assistant: Assistant, db: Database
) -> None:
    (monthly,) = ask(assistant, "华东汽车每月回款")
    assert_answer(monthly, "2025-11-01", "2026-10-31")
    march = scalar(db, INFLOW, e="E0001", s="2026-03-01", t="2026-03-31")
    assert f"| 2026-03 | {yuan(march)}" in monthly.text
    (dso,) = ask(assistant, "远航汽配的DSO")
    assert_answer(dso, "2025-11-01", "2026-10-31")
    assert "应收账款周转天数（DSO）" in dso.text and "平均回款天数" not in dso.text


def test_financing_products(assistant: Assistant, db: Database) -> None:
    (count,) = ask(assistant, "我名下有多少家客户做了保理")
    assert_answer(count, "2025-11-01", "2026-10-31")
    with db.read() as conn:
        factored = {r[0] for r in conn.execute(text(
            "SELECT DISTINCT e.name FROM financing f JOIN enterprises e ON e.id = f.applicant_id "
            "JOIN manager_clients mc ON mc.enterprise_id = f.applicant_id AND mc.manager_id = :m "
            "WHERE f.product = 'reverse_factoring' AND f.status NOT IN ('applied', 'rejected') "
            "AND f.start_date BETWEEN '2025-11-01' AND '2026-10-31'"), {"m": ME})}  # fmt: skip
        by_product = dict(conn.execute(text(
            "SELECT f.product, SUM(f.amount) FROM financing f JOIN manager_clients mc ON "
            "mc.enterprise_id = f.applicant_id AND mc.manager_id = :m "
            "WHERE f.status IN ('active', 'overdue') GROUP BY f.product"), {"m": ME}).all())  # fmt: skip
    assert f"共 {len(factored)} 家企业" in count.text and "融资产品：反向保理" in count.text
    assert set(ranked_names(count)) == factored
    (grouped_reply,) = ask(assistant, "我名下客户的融资余额按产品看")
    assert_answer(grouped_reply, None, None)
    assert f"| 经销商融资 | {yuan(int(by_product['distribution_financing']))}" in grouped_reply.text


@pytest.mark.parametrize(
    ("question", "sql", "start", "end"),
    [
        ("哪些供应商没有逾期", OVERDUE_BY_COMPANY, None, None),
        ("哪些经销商三季度没有下单", ORDERS_BY_COMPANY, "2026-07-01", "2026-09-30"),
    ],
)
def test_companies_without_any(
    assistant: Assistant, db: Database, question: str, sql: str, start: str | None,
    end: str | None,
) -> None:  # fmt: skip
    (reply,) = ask(assistant, question)
    assert_answer(reply, start, end)
    role = "supplier" if "供应商" in question else "distributor"
    mine = names_of(db, CLIENTS, m=ME, role=role, region="%")
    params = {"m": ME, "role": role} | ({"s": start, "t": end} if start else {})
    having = {n for n, v in grouped(db, sql, **params).items() if v}
    expected = mine - having
    assert f"共 {len(expected)} 家企业" in reply.text
    assert {re.sub(r"\[\d+\]", "", n) for n in ranked_names(reply)} == expected


def test_a_named_companys_largest_suppliers_and_distributors(
    assistant: Assistant, db: Database
) -> None:
    (supplier,) = ask(assistant, "华东汽车最大的供应商是谁")
    (distributors,) = ask(assistant, "华东汽车的前三大经销商")
    assert_answer(supplier, "2025-11-01", "2026-10-31")
    assert_answer(distributors, "2025-11-01", "2026-10-31")
    with db.read() as conn:
        sold = dict(conn.execute(text(
            "SELECT e.name, SUM(i.amount + i.tax) FROM invoices i JOIN enterprises e ON "
            "e.id = i.seller_id JOIN manager_clients mc ON mc.enterprise_id = i.seller_id AND "
            "mc.manager_id = :m WHERE i.status <> 'void' AND i.buyer_id = 'E0001' AND "
            "e.role = 'supplier' AND i.issue_date BETWEEN '2025-11-01' AND '2026-10-31' "
            "GROUP BY e.name"), {"m": ME}).all())  # fmt: skip
        bought = dict(conn.execute(text(
            "SELECT e.name, SUM(o.amount) FROM orders o JOIN enterprises e ON e.id = o.buyer_id "
            "JOIN manager_clients mc ON mc.enterprise_id = o.buyer_id AND mc.manager_id = :m "
            "WHERE o.status <> 'cancelled' AND o.seller_id = 'E0001' AND e.role = 'distributor' "
            "AND o.order_date BETWEEN '2025-11-01' AND '2026-10-31' GROUP BY e.name"),
            {"m": ME}).all())  # fmt: skip
    assert ranked_names(supplier) == sorted(sold, key=lambda k: -sold[k])[:1]
    assert ranked_names(distributors) == sorted(bought, key=lambda k: -bought[k])[:3]


def test_overdue_rate_is_a_rate(assistant: Assistant, db: Database) -> None:
    (reply,) = ask(assistant, "哪些供应商逾期率最高")
    (single,) = ask(assistant, "哪个供应商逾期率最高")
    (one,) = ask(assistant, "顺达橡塑的逾期率")
    overdue = grouped(db, OVERDUE_BY_COMPANY, m=ME, role="supplier")
    open_ = grouped(db, OPEN_BY_COMPANY, m=ME, role="supplier")
    rate = {n: Decimal(overdue.get(n, 0)) / Decimal(v) for n, v in open_.items() if v}
    top = max(rate, key=lambda k: rate[k])
    assert_answer(reply, None, None)
    # 哪些 is plural: the five highest rates, highest first, the heading says how many
    listed = ranked_names(reply)
    assert [rate[n] for n in listed] == sorted(rate.values(), reverse=True)[:5]
    assert f"列出前 5 项（共 {len(rate)} 项）" in reply.text
    assert f"{rate[top]:.2%}" in reply.text
    assert_answer(single, None, None)
    assert ranked_names(single) == [top]  # 哪个: the one
    assert_answer(one, None, None)
    assert f"逾期率 {rate['无锡顺达橡塑制品有限公司']:.2%}" in one.text


def test_this_year_words(local_assistant: Assistant, local_db: Database) -> None:
    (reply,) = ask(local_assistant, "华东汽车本年度开票")
    assert_answer(reply, "2026-01-01", "2026-10-31")
    assert yuan(scalar(local_db, INVOICED, e="E0001", s="2026-01-01", t="2026-10-31")) in reply.text


def test_a_region_follow_up_narrows_the_screen(assistant: Assistant, db: Database) -> None:
    _, jiangsu, distributors = ask(
        assistant, "今年以来开票金额前五的供应商", "只看江苏的", "换成经销商"
    )
    assert_answer(jiangsu, "2026-01-01", "2026-10-31")
    assert "地区：江苏省" in jiangsu.text and "企业类型：供应商" in jiangsu.text
    sql = INVOICED_BY_COMPANY.replace(
        "GROUP BY", "AND e.role = :role AND e.region LIKE '%江苏%' GROUP BY"
    )
    suppliers = grouped(db, sql, m=ME, s="2026-01-01", t="2026-10-31", role="supplier")
    assert ranked_names(jiangsu) == sorted(suppliers, key=lambda k: -suppliers[k])[:5]
    assert_answer(distributors, "2026-01-01", "2026-10-31")
    assert "地区：江苏省" in distributors.text and "企业类型：经销商" in distributors.text
    dealers = grouped(db, sql, m=ME, s="2026-01-01", t="2026-10-31", role="distributor")
    assert set(ranked_names(distributors)) == set(dealers)


@pytest.mark.parametrize(
    ("question", "start", "end"),
    [
        ("恒泰精密Q1到Q3的开票", "2026-01-01", "2026-09-30"),
        ("恒泰精密今年前三季度的开票", "2026-01-01", "2026-09-30"),  # not the last 9 months
        ("恒泰精密2025年第二至第四季度的开票", "2025-04-01", "2025-12-31"),
    ],
)
def test_ranges_of_quarters(
    local_assistant: Assistant, local_db: Database, question: str, start: str, end: str
) -> None:
    (reply,) = ask(local_assistant, question)
    assert_answer(reply, start, end)
    assert yuan(scalar(local_db, INVOICED, e="E0005", s=start, t=end)) in reply.text


@pytest.mark.parametrize(
    ("question", "role"),
    [("列出我名下所有供应商", "supplier"), ("我名下有哪些经销商", "distributor")],
)
def test_lists_of_a_kind_of_client(
    local_assistant: Assistant, local_db: Database, question: str, role: str
) -> None:
    (reply,) = ask(local_assistant, question)
    assert_answer(reply, "2025-11-01", "2026-10-31")
    billed = grouped(local_db, INVOICED_BY_COMPANY.replace(
        "GROUP BY", "AND e.role = :role GROUP BY"), m=ME, s="2025-11-01", t="2026-10-31",
        role=role)  # fmt: skip
    assert set(ranked_names(reply)) == set(billed) and "未找到企业" not in reply.text


def test_slow_collections_are_collection_days(local_assistant: Assistant) -> None:
    (reply,) = ask(local_assistant, "有没有哪家供应商回款特别慢")
    assert_answer(reply, "2025-11-01", "2026-10-31")
    assert "按平均回款天数从高到低" in reply.text and "资金流入" not in reply.text


def test_two_periods_in_one_question_are_asked_about_not_half_answered(
    assistant: Assistant, db: Database
) -> None:
    asked, picked = ask(assistant, "恒泰精密上半年和下半年的开票金额", "2")
    assert asked.clarification, asked.text
    assert "2026-01-01 至 2026-06-30" in asked.text and "2026-07-01 至 2026-10-31" in asked.text
    assert "元" not in asked.text  # no figure for one of the two periods
    assert_answer(picked, "2026-07-01", "2026-10-31")
    assert yuan(scalar(db, INVOICED, e="E0005", s="2026-07-01", t="2026-10-31")) in picked.text


def test_recent_nine_months_without_the_measure_word_is_nine_months(assistant: Assistant) -> None:
    (reply,) = ask(assistant, "华东汽车最近9月的现金流")
    assert "近9个月" in reply.text and "2026-02-01 至 2026-10-31" in reply.text, reply.text


def test_company_data_we_do_not_hold_is_said_not_guessed(assistant: Assistant) -> None:
    (reply,) = ask(assistant, "恒泰精密的授信额度是多少")
    assert reply.intent == "no_data", reply.text
    assert "苏州恒泰精密机械有限公司" in reply.text and "没有" in reply.text
    assert not re.search(r"\d", reply.text)  # no figure of any kind


# -- one basis per label, open periods, the whole book, comparisons ---------------------------

NET_BY_BUYER = (
    "SELECT buyer_id, SUM(amount) FROM invoices WHERE seller_id = :e AND status <> 'void' "
    "AND issue_date BETWEEN :s AND :t GROUP BY buyer_id"
)


def test_sales_shares_read_the_same_in_both_answers_and_each_label_names_its_basis(
    assistant: Assistant, db: Database
) -> None:
    start, end = "2025-11-01", "2026-10-31"
    net = grouped(db, NET_BY_BUYER, e="E0006", s=start, t=end)
    top = net["E0001"]  # 华东汽车, 远航汽配's largest buyer
    percent = f"{Decimal(top) / sum(net.values()) * 100:.2f}%"
    (ranked,) = ask(assistant, "远航汽配前五大客户占比多少")
    assert_answer(ranked, start, end)
    row = next(line for line in ranked.text.splitlines() if "华东汽车集团股份有限公司" in line)
    assert yuan(top) in row and percent in row, ranked.text
    assert "开票金额（不含税）" in ranked.text and "含税）" not in ranked.text.replace(
        "不含税）", ""
    )
    _, concentration = ask(assistant, "远航汽配的现金流怎么样", "他们前五大客户占比多少")
    assert concentration.intent == "concentration", concentration.text
    assert f"{yuan(top)}（不含税），占比 {percent}" in concentration.text
    assert "开票总额（不含税）" in concentration.text
    (gross,) = ask(assistant, "远航汽配近12个月的开票金额")
    expected = scalar(db, INVOICED, e="E0006", s=start, t=end)
    assert f"开票金额（含税） {yuan(expected)}" in gross.text, gross.text


@pytest.mark.parametrize(
    ("question", "whole", "open_row", "open_start", "open_end"),
    [
        (
            "远航汽配今年每个季度的开票金额",
            [("2026年第三季度", "2026-07-01", "2026-09-30")],
            "2026年第四季度（截至 2026-10-31，不满整季）",
            "2026-10-01",
            "2026-10-31",
        ),
        (
            "远航汽配9月1日到10月15日每个月的开票金额",
            [("2026-09", "2026-09-01", "2026-09-30")],
            "2026-10（截至 2026-10-15，不满整月）",
            "2026-10-01",
            "2026-10-15",
        ),
        (
            "远航汽配近12个月每个季度的开票金额",
            [("2026年第一季度", "2026-01-01", "2026-03-31")],
            "2025年第四季度（自 2025-11-01 起，不满整季）",
            "2025-11-01",
            "2025-12-31",
        ),
    ],
)
def test_a_period_row_the_question_cuts_short_says_so(
    assistant: Assistant, db: Database, question: str,
    whole: list[tuple[str, str, str]], open_row: str, open_start: str, open_end: str,
) -> None:  # fmt: skip
    (reply,) = ask(assistant, question)
    assert reply.intent == "query" and reply.unverified == [], reply.text
    value = scalar(db, INVOICED, e="E0006", s=open_start, t=open_end)
    assert f"| {open_row} | {yuan(value)}" in reply.text, reply.text
    for label, start, end in whole:  # a whole quarter or month carries no mark
        value = scalar(db, INVOICED, e="E0006", s=start, t=end)
        assert f"| {label} | {yuan(value)}" in reply.text, reply.text


BOOK_INVOICE_COUNT = (
    "SELECT COUNT(*) FROM invoices i JOIN manager_clients mc ON mc.enterprise_id = i.seller_id "
    "AND mc.manager_id = :m WHERE i.status <> 'void' AND i.issue_date BETWEEN :s AND :t"
)


@pytest.mark.parametrize("manager", ["M001", "M002"])
def test_a_figure_asked_with_no_company_is_the_whole_book(
    assistant: Assistant, db: Database, manager: str
) -> None:
    (reply,) = ask(assistant, "上个月新增了多少张发票", manager=manager)
    assert_answer(reply, "2026-09-01", "2026-09-30")
    assert "范围：您名下的客户" in reply.text and "问题没有点名企业" in reply.text
    count = scalar(db, BOOK_INVOICE_COUNT, m=manager, s="2026-09-01", t="2026-09-30")
    assert f"开票张数 {count} 张" in reply.text, reply.text


def test_a_figure_asked_with_no_company_is_about_the_company_in_focus(
    assistant: Assistant, db: Database
) -> None:
    _, reply = ask(assistant, "恒泰精密的现金流怎么样", "上个月新增了多少张发票")
    assert_answer(reply, "2026-09-01", "2026-09-30")
    assert "范围：苏州恒泰精密机械有限公司" in reply.text
    count = scalar(db, INVOICE_COUNT, e="E0005", s="2026-09-01", t="2026-09-30")
    assert f"开票张数 {count} 张" in reply.text, reply.text


def test_a_calculation_with_a_year_is_not_a_question_about_the_book(
    local_assistant: Assistant,
) -> None:
    (reply,) = ask(
        local_assistant, "某行2024年营业收入356.2亿元，同比增长8.3%，比上年增加了多少亿元？"
    )
    assert reply.intent == "calculate", reply.text


def _difference_line(label: str, later: str, earlier: str, a: int, b: int) -> str:
    word, rate_word = ("多", "高") if b >= a else ("少", "低")
    rate = f"{abs(Decimal(b - a)) / abs(Decimal(a)) * 100:.2f}%"
    unit = yuan(abs(b - a)) if label != "开票张数" else f"{abs(b - a)} 张"
    return f"{label}：{later}比{earlier}{word} {unit}（{rate_word} {rate}）"


def test_compare_after_two_companies_is_a_table_of_the_two_not_a_chart(
    assistant: Assistant, db: Database
) -> None:
    *_, reply = ask(assistant, "恒泰精密三季度开票金额", "那远航汽配呢", "对比一下")
    assert reply.intent == "query" and reply.chart is None and reply.unverified == [], reply.text
    a = scalar(db, INVOICED, e="E0005", s="2026-07-01", t="2026-09-30")
    b = scalar(db, INVOICED, e="E0006", s="2026-07-01", t="2026-09-30")
    assert (
        f"| 1 | 苏州恒泰精密机械有限公司 | 2026年第三季度（2026-07-01 至 2026-09-30） | {yuan(a)}"
        in reply.text
    )
    assert (
        f"| 2 | 宁波远航汽车零部件有限公司 | 2026年第三季度（2026-07-01 至 2026-09-30） | {yuan(b)}"
        in reply.text
    )
    assert (
        _difference_line(
            "开票金额（含税）", "宁波远航汽车零部件有限公司", "苏州恒泰精密机械有限公司", a, b
        )
        in reply.text
    ), reply.text


def test_compare_after_two_periods_of_one_company(assistant: Assistant, db: Database) -> None:
    *_, reply = ask(assistant, "恒泰精密三季度开了多少发票", "那二季度呢", "比较一下")
    assert reply.intent == "query" and reply.unverified == [], reply.text
    q3 = scalar(db, INVOICE_COUNT, e="E0005", s="2026-07-01", t="2026-09-30")
    q2 = scalar(db, INVOICE_COUNT, e="E0005", s="2026-04-01", t="2026-06-30")
    assert "范围：苏州恒泰精密机械有限公司" in reply.text
    assert f"| 2026年第三季度 | 2026年第三季度（2026-07-01 至 2026-09-30） | {q3} 张" in reply.text
    assert _difference_line("开票张数", "2026年第二季度", "2026年第三季度", q3, q2) in reply.text


def test_compare_after_two_templated_answers_uses_their_window(
    assistant: Assistant, db: Database
) -> None:
    *_, reply = ask(assistant, "华东汽车的现金流怎么样", "远航汽配呢", "这两家对比一下")
    assert reply.intent == "query" and reply.unverified == [], reply.text
    for eid in ("E0001", "E0006"):
        inflow = scalar(db, INFLOW, e=eid, s="2025-11-01", t="2026-10-31")
        outflow = scalar(db, OUTFLOW, e=eid, s="2025-11-01", t="2026-10-31")
        assert f"{yuan(inflow)} | {yuan(outflow)} | {yuan(inflow - outflow)}" in reply.text


def test_compare_of_two_lists_asks_what_to_compare(local_assistant: Assistant) -> None:
    *_, reply = ask(local_assistant, "我名下开票金额前五的企业", "那经销商呢", "对比一下")
    assert reply.clarification and "请说明对象和指标" in reply.text, reply.text
    assert not re.search(r"\d[\d,]*\.\d\d 元", reply.text)


def test_two_periods_compared_in_one_question_are_both_answered(
    assistant: Assistant, db: Database
) -> None:
    (reply,) = ask(assistant, "聚力电机9月份的回款比8月份多还是少")
    assert reply.intent == "query" and reply.unverified == [], reply.text
    aug = scalar(db, INFLOW, e="E0008", s="2026-08-01", t="2026-08-31")
    sep = scalar(db, INFLOW, e="E0008", s="2026-09-01", t="2026-09-30")
    assert f"{yuan(aug)}" in reply.text and f"{yuan(sep)}" in reply.text
    assert _difference_line("资金流入", "2026年9月", "2026年8月", aug, sep) in reply.text


def test_two_companies_named_side_by_side_are_each_answered(
    assistant: Assistant, db: Database
) -> None:
    (reply,) = ask(assistant, "华东汽车和远航汽配三季度的开票金额")
    assert_answer(reply, "2026-07-01", "2026-09-30")
    assert "交易对手" not in reply.text  # not 华东汽车's invoices to 远航汽配
    for eid in ("E0001", "E0006"):
        assert yuan(scalar(db, INVOICED, e=eid, s="2026-07-01", t="2026-09-30")) in reply.text


def test_a_count_and_its_amount_asked_together_are_both_answered(
    assistant: Assistant, db: Database
) -> None:
    (reply,) = ask(assistant, "华东汽车10月份开了多少张发票，金额多少")
    assert_answer(reply, "2026-10-01", "2026-10-31")
    count = scalar(db, INVOICE_COUNT, e="E0001", s="2026-10-01", t="2026-10-31")
    amount = scalar(db, INVOICED, e="E0001", s="2026-10-01", t="2026-10-31")
    assert f"开票张数 {count} 张，开票金额（含税） {yuan(amount)}" in reply.text, reply.text


SOLD_TO = (
    "SELECT e.name, SUM(i.amount + i.tax) FROM invoices i JOIN enterprises e ON e.id = i.seller_id "
    "JOIN manager_clients mc ON mc.enterprise_id = i.seller_id AND mc.manager_id = :m "
    "WHERE e.role = 'supplier' AND i.buyer_id = :b AND i.status <> 'void' "
    "AND i.issue_date BETWEEN :s AND :t GROUP BY e.name"
)


@pytest.mark.parametrize(
    ("question", "start", "end"),
    [
        ("上个季度华东汽车从哪些供应商采购最多", "2026-07-01", "2026-09-30"),
        ("华东汽车今年向哪几家供应商采购最多", "2026-01-01", "2026-10-31"),
    ],
)
def test_whom_a_company_buys_from_most_is_a_ranking_of_its_suppliers(
    assistant: Assistant, db: Database, question: str, start: str, end: str
) -> None:
    (reply,) = ask(assistant, question)
    assert_answer(reply, start, end)
    sold = grouped(db, SOLD_TO, m=ME, b="E0001", s=start, t=end)
    top = max(sold, key=lambda k: sold[k])
    assert "交易对手：华东汽车集团股份有限公司" in reply.text
    assert "符合条件的共" not in reply.text  # 哪几家 asks which, not how many
    assert ranked_names(reply)[0] == top and f"{top} | {yuan(sold[top])}" in reply.text


def test_among_them_the_overdue_ones_keeps_the_screen(assistant: Assistant) -> None:
    _, among = ask(assistant, "应收账款超过500万的供应商有几家", "其中逾期的呢")
    _, only = ask(assistant, "应收账款超过500万的供应商有几家", "只看逾期的")
    assert_answer(among, None, None)
    assert "未结应收金额>5,000,000.00 元" in among.text
    assert ranked_names(among) == ranked_names(only) and ranked_names(among)


FINANCED_BOOK = (
    "SELECT COALESCE(SUM(f.amount), 0) FROM financing f JOIN manager_clients mc "
    "ON mc.enterprise_id = f.applicant_id AND mc.manager_id = :m "
    "WHERE f.status NOT IN ('applied', 'rejected') AND f.start_date BETWEEN :s AND :t"
)


def test_new_financing_in_a_quarter_with_no_company_is_the_whole_book(
    assistant: Assistant, db: Database
) -> None:
    (reply,) = ask(assistant, "2026年第三季度新增融资多少")
    assert_answer(reply, "2026-07-01", "2026-09-30")
    expected = scalar(db, FINANCED_BOOK, m=ME, s="2026-07-01", t="2026-09-30")
    assert f"融资发生额 {yuan(expected)}" in reply.text and "问题没有点名企业" in reply.text


def test_which_month_had_the_most_is_that_month(assistant: Assistant, db: Database) -> None:
    (reply,) = ask(assistant, "聚力电机今年哪个月回款最多")
    assert_answer(reply, "2026-01-01", "2026-10-31")
    with db.read() as conn:
        # SQLite has no EXTRACT: the month from the date text, the same on every backend
        rows = conn.execute(text(
            "SELECT paid_date, amount FROM payments WHERE payee_id = 'E0008' "
            "AND paid_date BETWEEN '2026-01-01' AND '2026-10-31'"
        )).all()  # fmt: skip
    months: dict[str, int] = {}
    for paid, amount in rows:  # amounts are stored in fen
        months[str(paid)[:7]] = months.get(str(paid)[:7], 0) + int(amount)
    top = max(months, key=lambda k: months[k])
    assert re.findall(r"^\| \d+ \| (\d{4}-\d{2})", reply.text, re.MULTILINE) == [top]
    assert yuan(months[top]) in reply.text


def test_companies_whose_figure_fell_year_on_year_are_only_those(
    assistant: Assistant, db: Database
) -> None:
    (reply,) = ask(assistant, "今年以来开票金额同比下降的供应商有哪些")
    assert_answer(reply, "2026-01-01", "2026-10-31")
    assert "2025-01-01 至 2025-10-31" in reply.text and "较对比期减少" in reply.text
    now = grouped(db, INVOICED_BY_COMPANY, m=ME, s="2026-01-01", t="2026-10-31")
    before = grouped(db, INVOICED_BY_COMPANY, m=ME, s="2025-01-01", t="2025-10-31")
    suppliers = grouped(db, OPEN_BY_COMPANY.replace("i.status IN ('unpaid', 'partial') AND ", ""),
                        m=ME, role="supplier")  # fmt: skip
    fell = {n: now.get(n, 0) - v for n, v in before.items() if n in suppliers and now.get(n, 0) < v}
    assert fell and ranked_names(reply) == sorted(fell, key=lambda k: fell[k])
    for change in fell.values():
        assert yuan(change) in reply.text


def test_one_companys_share_of_the_whole_book(assistant: Assistant, db: Database) -> None:
    (reply,) = ask(assistant, "恒泰精密今年以来开票金额占我名下全部的比例")
    assert_answer(reply, "2026-01-01", "2026-10-31")
    book = grouped(db, INVOICED_BY_COMPANY.replace("i.amount + i.tax", "i.amount"),
                   m=ME, s="2026-01-01", t="2026-10-31")  # fmt: skip
    mine, total = book["苏州恒泰精密机械有限公司"], sum(book.values())
    assert f"开票金额（不含税） {yuan(mine)}" in reply.text, reply.text
    percent = f"{Decimal(mine) / Decimal(total) * 100:.2f}%"
    assert f"合计 {yuan(total)} 的 {percent}" in reply.text, reply.text
