"""A financing product named in a data question: its financing records over the caller's book, not
the product's description (and its terms, 提前回款有哪些费用, not a ranking of its records).

Each figure is checked against plain SQL on the seeded sample data (as of 2026-10-31, manager
M001), on every backend. 做了 means financings happened: approved ones (not 申请中 nor 已拒绝).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import text

from finassist.assistant import Assistant, Reply
from finassist.store import Database

ME = "M001"
THIS_YEAR = ("2026-01-01", "2026-10-31")
LAST_12_MONTHS = ("2025-11-01", "2026-10-31")
EVER = ("1900-01-01", "2026-10-31")
BOOK = (
    "FROM financing f JOIN enterprises e ON e.id = f.applicant_id "
    "JOIN manager_clients mc ON mc.enterprise_id = f.applicant_id AND mc.manager_id = :m "
    "WHERE f.product = :p AND f.status NOT IN ('applied', 'rejected') "
    "AND f.start_date BETWEEN :s AND :t"
)


@pytest.fixture(scope="module")
def assistant(seeded_backend: Database) -> Iterator[Assistant]:
    yield Assistant(seeded_backend)


def one(db: Database, select: str, product: str, period: tuple[str, str]) -> int:
    with db.read() as conn:
        params = {"m": ME, "p": product, "s": period[0], "t": period[1]}
        return int(conn.execute(text(f"{select} {BOOK}"), params).scalar_one() or 0)


def by_company(db: Database, product: str, period: tuple[str, str]) -> list[tuple[str, int]]:
    with db.read() as conn:
        params = {"m": ME, "p": product, "s": period[0], "t": period[1]}
        found = conn.execute(text(f"SELECT e.name, SUM(f.amount) {BOOK} GROUP BY e.name"), params)
        return sorted(((name, int(total)) for name, total in found), key=lambda r: -r[1])


def yuan(fen: int) -> str:
    return f"{Decimal(fen) / 100:,.2f} 元"


def ask(assistant: Assistant, message: str) -> Reply:
    return assistant.ask(message, manager_id=ME)


def assert_cited(reply: Reply, period: tuple[str, str], product: str) -> None:
    assert reply.intent == "query", reply.text
    assert not reply.clarification and reply.unverified == [], reply.text
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", reply.text)}
    assert cited and cited <= set(range(1, len(reply.evidence) + 1)), reply.text
    assert f"{period[0]} 至 {period[1]}" in reply.text, reply.text
    assert f"融资产品：{product}" in reply.text, reply.text
    assert "申请材料" not in reply.text  # not the product's description


def assert_ever(reply: Reply, product: str) -> None:
    assert reply.intent == "query" and not reply.clarification, reply.text
    assert "截至数据日期的全部记录（截至 2026-10-31）" in reply.text, reply.text
    assert f"融资产品：{product}" in reply.text and reply.unverified == [], reply.text


def table(reply: Reply) -> list[tuple[str, str]]:
    return re.findall(r"^\| \d+ \| ([^|]+?) \| ([^|]+?)\[\d+\] \|", reply.text, re.MULTILINE)


def test_how_many_financings_of_a_product_this_year(
    assistant: Assistant, seeded_backend: Database
) -> None:
    reply = ask(assistant, "今年做了多少笔反向保理")
    count = one(seeded_backend, "SELECT COUNT(*)", "reverse_factoring", THIS_YEAR)
    assert_cited(reply, THIS_YEAR, "反向保理")
    assert f"融资笔数 {count} 笔[" in reply.text and "您名下的客户" in reply.text


def test_how_much_a_product_financed_this_year(
    assistant: Assistant, seeded_backend: Database
) -> None:
    reply = ask(assistant, "今年反向保理融资了多少")
    amount = one(seeded_backend, "SELECT SUM(f.amount)", "reverse_factoring", THIS_YEAR)
    assert_cited(reply, THIS_YEAR, "反向保理")
    assert f"融资发生额 {yuan(amount)}[" in reply.text


@pytest.mark.parametrize(
    ("question", "product", "label"),
    [
        # 订单 inside 订单融资 is not the orders metric: the longest word wins
        ("哪些客户做了订单融资", "order_financing", "订单融资"),
        # 做了: financings happened, so their amount, not "balance or amount?"
        ("哪些客户做了反向保理", "reverse_factoring", "反向保理"),
    ],
)
def test_which_clients_did_a_product(
    assistant: Assistant, seeded_backend: Database, question: str, product: str, label: str
) -> None:
    reply = ask(assistant, question)
    expected = by_company(seeded_backend, product, LAST_12_MONTHS)
    assert expected  # the sample data holds some, or the test proves nothing
    assert_cited(reply, LAST_12_MONTHS, label)
    assert table(reply) == [(name, yuan(total)) for name, total in expected]
    assert "订单金额" not in reply.text


def test_a_product_figure_that_could_be_balance_or_amount_is_asked(
    assistant: Assistant,
) -> None:
    reply = ask(assistant, "反向保理有多少")
    assert reply.clarification and "融资余额" in reply.text and "融资发生额" in reply.text


@pytest.mark.parametrize(
    ("question", "name"),
    [
        # 做过 is ever: every record up to the data's date, not the last 12 months; a core
        # enterprise's (华东汽车) is the financing under it: test_query_core_financing.py
        ("宁波润磊做过反向保理吗", "宁波润磊汽车电子有限公司"),
    ],
)
def test_one_clients_financing_of_a_product_ever(
    assistant: Assistant, seeded_backend: Database, question: str, name: str
) -> None:
    reply = ask(assistant, question)
    expected = dict(by_company(seeded_backend, "reverse_factoring", EVER))
    assert_ever(reply, "反向保理")
    assert f"{name}：融资发生额 {yuan(expected.get(name, 0))}[" in reply.text


def test_which_clients_ever_did_a_product(assistant: Assistant, seeded_backend: Database) -> None:
    reply = ask(assistant, "哪些客户做过订单融资")
    expected = by_company(seeded_backend, "order_financing", EVER)
    assert_ever(reply, "订单融资")
    assert expected != by_company(seeded_backend, "order_financing", LAST_12_MONTHS)
    assert table(reply) == [(name, yuan(total)) for name, total in expected]


@pytest.mark.parametrize(
    "question", ["提前回款有哪些费用", "反向保理需要什么材料", "订单融资的申请条件有哪些"]
)
def test_a_products_terms_are_the_product_answer(assistant: Assistant, question: str) -> None:
    reply = ask(assistant, question)
    assert reply.intent == "product_info", reply.text
    assert "申请次数" not in reply.text and "统计口径" not in reply.text


def test_a_clients_financing_records_stay_the_post_loan_answer(assistant: Assistant) -> None:
    reply = ask(assistant, "恒泰精密的融资记录")
    assert reply.intent == "post_loan", reply.text
    assert "苏州恒泰精密机械有限公司共有融资记录" in reply.text


def test_a_clients_loan_balance_in_loan_words_is_its_financing_balance(
    assistant: Assistant, seeded_backend: Database
) -> None:
    reply = ask(assistant, "恒泰精密的贷款余额是多少")
    with seeded_backend.read() as conn:
        balance = conn.execute(
            text(
                "SELECT SUM(f.amount) FROM financing f JOIN enterprises e ON e.id = f.applicant_id "
                "WHERE e.name = :n AND f.status IN ('active', 'overdue')"
            ),
            {"n": "苏州恒泰精密机械有限公司"},
        ).scalar_one()
    assert reply.intent == "query" and not reply.clarification, reply.text
    assert f"苏州恒泰精密机械有限公司：融资余额 {yuan(int(balance))}[" in reply.text, reply.text


def test_new_financings_this_year_count_and_amount(
    assistant: Assistant, seeded_backend: Database
) -> None:
    reply = ask(assistant, "今年新增的融资有多少笔，金额多少")
    with seeded_backend.read() as conn:
        count, total = conn.execute(
            text(
                "SELECT COUNT(*), SUM(f.amount) FROM financing f JOIN manager_clients mc "
                "ON mc.enterprise_id = f.applicant_id AND mc.manager_id = :m "
                "WHERE f.status NOT IN ('applied', 'rejected') AND f.start_date BETWEEN :s AND :t"
            ),
            {"m": ME, "s": THIS_YEAR[0], "t": THIS_YEAR[1]},
        ).one()
    assert reply.intent == "query" and not reply.clarification, reply.text
    assert f"融资笔数 {count} 笔，融资发生额 {yuan(int(total))}[" in reply.text, reply.text


def test_an_rms_loan_count_question_is_never_a_retail_service_answer(
    assistant: Assistant,
) -> None:
    reply = ask(assistant, "新增贷款有多少笔")
    assert reply.intent != "customer_service", reply.text
    assert "个人账户" not in reply.text
