"""The seven service-desk scenarios, multi-turn, on the seeded sample data.

Every figure the assistant states is compared with the value an independent SQL query computes
here (plain SQL text, not the finance layer), formatted the way a user reads it.
"""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import text

from finassist.assistant import Assistant, Reply
from finassist.assistant.compose import money, percent
from finassist.errors import AccessDenied, InvalidInput, NotFound
from finassist.store import Database

AS_OF = date(2026, 10, 31)
WINDOW_12 = ("2025-11-01", "2026-10-31")


@pytest.fixture(scope="module")
def planted(sample_db: Database) -> dict[str, str]:
    return json.loads(sample_db.get_meta("planted") or "{}")


@pytest.fixture
def assistant(sample_db: Database) -> Assistant:
    return Assistant(sample_db)


def sql(db: Database, query: str, **params: object) -> object:
    with db.read() as conn:
        return conn.execute(text(query), params).scalar_one()


def yuan(fen: object) -> Decimal:
    return Decimal(int(fen or 0)) / 100


def name_of(db: Database, eid: str) -> str:
    return str(sql(db, "SELECT name FROM enterprises WHERE id = :e", e=eid))


def assert_grounded(reply: Reply, db: Database) -> None:
    """No unverified claim, every [n] points at an evidence item, every invoice number exists."""
    assert reply.unverified == []
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", reply.text)}
    assert cited <= set(range(1, len(reply.evidence) + 1))
    for number in re.findall(r"(?<!\d)\d{20}(?!\d)", reply.text):
        assert sql(db, "SELECT COUNT(*) FROM invoices WHERE invoice_no = :n", n=number) == 1


def chat(assistant: Assistant, *messages: str, manager: str = "M001") -> list[Reply]:
    replies: list[Reply] = []
    session = None
    for message in messages:
        reply = assistant.ask(message, manager_id=manager, session_id=session)
        session = reply.session_id
        replies.append(reply)
    return replies


# -- 核心企业资质与现金流 ------------------------------------------------------------------------------


def test_core_cashflow_and_profile(assistant: Assistant, sample_db: Database, planted) -> None:
    core = planted["core_main"]
    flow, profile = chat(assistant, "华东汽车近12个月的现金流怎么样？", "这家企业的资质怎么样")
    inflow = yuan(
        sql(
            sample_db,
            "SELECT SUM(amount) FROM payments WHERE payee_id = :e AND paid_date BETWEEN :a AND :b",
            e=core,
            a=WINDOW_12[0],
            b=WINDOW_12[1],
        )
    )
    outflow = yuan(
        sql(
            sample_db,
            "SELECT SUM(amount) FROM payments WHERE payer_id = :e AND paid_date BETWEEN :a AND :b",
            e=core,
            a=WINDOW_12[0],
            b=WINDOW_12[1],
        )
    )
    assert flow.intent == "cashflow" and flow.enterprise_id == core
    assert f"资金流入 {money(inflow)}" in flow.text
    assert f"流出 {money(outflow)}" in flow.text
    assert money(abs(inflow - outflow)) in flow.text
    assert_grounded(flow, sample_db)

    uscc = sql(sample_db, "SELECT uscc FROM enterprises WHERE id = :e", e=core)
    rating = sql(sample_db, "SELECT rating FROM enterprises WHERE id = :e", e=core)
    assert profile.intent == "profile" and profile.enterprise_id == core
    assert uscc in profile.text and f"信用评级 {rating}" in profile.text
    assert_grounded(profile, sample_db)


def test_follow_up_keeps_company_and_window(assistant: Assistant, sample_db, planted) -> None:
    first, second, third = chat(
        assistant, "华东汽车的应收发票", "他们近3个月的现金流呢", "那远航汽配呢"
    )
    assert second.enterprise_id == planted["core_main"] and second.intent == "cashflow"
    assert "2026-08-01 至 2026-10-31" in second.text
    inflow = yuan(
        sql(
            sample_db,
            "SELECT SUM(amount) FROM payments WHERE payee_id = :e AND "
            "paid_date BETWEEN '2026-08-01' AND '2026-10-31'",
            e=planted["long_terms"],
        )
    )
    assert third.enterprise_id == planted["long_terms"] and third.intent == "cashflow"
    assert f"资金流入 {money(inflow)}" in third.text
    for reply in (first, second, third):
        assert_grounded(reply, sample_db)


def test_outstanding_receivables_match_sql(assistant: Assistant, sample_db, planted) -> None:
    eid = planted["overdue"]
    (reply,) = chat(assistant, "顺达橡塑还有哪些应收发票没付？")
    where = "seller_id = :e AND status IN ('unpaid', 'partial')"
    n = sql(sample_db, f"SELECT COUNT(*) FROM invoices WHERE {where}", e=eid)
    total = yuan(
        sql(sample_db, f"SELECT SUM(amount + tax - paid_amount) FROM invoices WHERE {where}", e=eid)
    )
    overdue_n = sql(
        sample_db,
        f"SELECT COUNT(*) FROM invoices WHERE {where} AND due_date < :d",
        e=eid,
        d=AS_OF.isoformat(),
    )
    overdue = yuan(
        sql(
            sample_db,
            f"SELECT SUM(amount + tax - paid_amount) FROM invoices WHERE {where} AND due_date < :d",
            e=eid,
            d=AS_OF.isoformat(),
        )
    )
    assert overdue_n >= 2
    assert f"未结发票共 {n} 张，未结金额合计 {money(total)}" in reply.text
    assert f"已逾期 {overdue_n} 张，逾期金额 {money(overdue)}" in reply.text
    oldest = sql(
        sample_db,
        f"SELECT invoice_no FROM invoices WHERE {where} AND due_date < :d "
        "ORDER BY due_date LIMIT 1",
        e=eid,
        d=AS_OF.isoformat(),
    )
    assert oldest in reply.text
    assert any(e.kind == "invoice" and e.data["invoice_no"] == oldest for e in reply.evidence)
    assert_grounded(reply, sample_db)


# -- 资金需求识别 ---------------------------------------------------------------------------------------


def test_funding_need_of_a_stressed_supplier(assistant: Assistant, sample_db, planted) -> None:
    eid = planted["cash_stress"]
    (reply,) = chat(assistant, "恒泰精密有没有资金需求？")
    requests = sql(
        sample_db,
        "SELECT COUNT(*) FROM financing WHERE applicant_id = :e AND "
        "product = 'early_payment' AND start_date BETWEEN :a AND :b",
        e=eid,
        a=WINDOW_12[0],
        b=WINDOW_12[1],
    )
    assert requests >= 12
    assert f"提前回款申请 {requests} 次，覆盖 12 个月" in reply.text
    assert_grounded(reply, sample_db)


def test_funding_gap_of_a_distributor_with_a_large_order(assistant, sample_db, planted) -> None:
    eid = planted["large_order"]
    (reply,) = chat(assistant, "锦程汽贸有没有资金缺口？")
    open_amount = yuan(
        sql(
            sample_db,
            "SELECT SUM(amount - prepaid_amount) FROM orders WHERE "
            "buyer_id = :e AND status = 'open'",
            e=eid,
        )
    )
    assert f"在手未交付订单金额 {money(open_amount)}" in reply.text
    assert_grounded(reply, sample_db)


# -- 产品匹配 --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "question", "product"),
    [
        ("cash_stress", "给恒泰精密推荐一个融资产品", "early_payment"),
        ("long_terms", "远航汽配适合什么融资产品？", "reverse_factoring"),
        ("large_order", "锦程汽贸适合什么融资方案", "purchase_financing"),
    ],
)
def test_product_match(assistant, sample_db, planted, pattern, question, product) -> None:
    (reply,) = chat(assistant, question)
    rec = reply.recommendation
    assert rec is not None and rec["recommended_product"] == product
    assert rec["enterprise_id"] == planted[pattern]
    assert money(Decimal(rec["recommended_amount"])) in reply.text
    assert len(rec["drivers"]) == 3
    assert_grounded(reply, sample_db)


def test_recommendation_driver_equals_sql(assistant, sample_db, planted) -> None:
    eid = planted["cash_stress"]
    (reply,) = chat(assistant, "给恒泰精密推荐一个融资产品")
    months = sql(
        sample_db,
        "SELECT COUNT(DISTINCT substr(CAST(start_date AS TEXT), 1, 7)) FROM "
        "financing WHERE applicant_id = :e AND product = 'early_payment' AND start_date "
        "BETWEEN :a AND :b",
        e=eid,
        a=WINDOW_12[0],
        b=WINDOW_12[1],
    )
    drivers = {d["key"]: d for d in reply.recommendation["drivers"]}
    key = next(k for k in drivers if "early_payment" in k)
    assert Decimal(str(drivers[key]["value"])) == months == 12


# -- 风控与合规 ------------------------------------------------------------------------------------------


def test_execution_list_is_flagged_and_escalated(assistant, sample_db, planted) -> None:
    eid = planted["execution"]
    risk, rec = chat(assistant, "德丰模具有没有被执行或者诉讼？", "给他们推荐个产品")
    amount = yuan(
        sql(
            sample_db,
            "SELECT amount FROM risk_events WHERE enterprise_id = :e AND kind = 'execution'",
            e=eid,
        )
    )
    assert "被执行" in risk.text and money(amount) in risk.text
    assert "转人工" in risk.text
    assert rec.recommendation["escalate_to_human"] is True
    assert rec.recommendation["risk_score"] >= 60
    for reply in (risk, rec):
        assert_grounded(reply, sample_db)


def test_abnormal_invoices_are_listed(assistant, sample_db, planted) -> None:
    eid = planted["abnormal_invoice"]
    (reply,) = chat(assistant, "川西建材有没有异常发票？", manager="M002")
    with sample_db.read() as conn:
        flagged = (
            conn.execute(
                text(
                    "SELECT invoice_no FROM risk_events WHERE enterprise_id = :e AND "
                    "kind = 'abnormal_invoice'"
                ),
                {"e": eid},
            )
            .scalars()
            .all()
        )
    assert flagged
    for number in flagged:
        assert number in reply.text
    assert_grounded(reply, sample_db)


# -- 数据服务 ---------------------------------------------------------------------------------------------


def test_health_report_figures(assistant, sample_db, planted) -> None:
    eid = planted["concentration"]
    (reply,) = chat(assistant, "帮我出一份聚力电机的现金流健康度报告")
    sales = yuan(
        sql(
            sample_db,
            "SELECT SUM(amount) FROM invoices WHERE seller_id = :e AND status "
            "<> 'void' AND issue_date BETWEEN :a AND :b",
            e=eid,
            a=WINDOW_12[0],
            b=WINDOW_12[1],
        )
    )
    top1 = yuan(
        sql(
            sample_db,
            "SELECT MAX(s) FROM (SELECT SUM(amount) AS s FROM invoices WHERE "
            "seller_id = :e AND status <> 'void' AND issue_date BETWEEN :a AND :b GROUP BY "
            "buyer_id) t",
            e=eid,
            a=WINDOW_12[0],
            b=WINDOW_12[1],
        )
    )
    share = (top1 / sales).quantize(Decimal("0.0001"))
    assert share > Decimal("0.85")
    assert f"开票销售额 {money(sales)}" in reply.text
    assert f"第一大客户占比 {percent(share)}" in reply.text
    assert "客户集中度偏高" in reply.text
    assert_grounded(reply, sample_db)


# -- 贷后跟踪 ---------------------------------------------------------------------------------------------


def test_post_loan_tracking(assistant, sample_db, planted) -> None:
    eid = planted["cash_stress"]
    (reply,) = chat(assistant, "恒泰精密的融资记录和贷后情况")
    n = sql(sample_db, "SELECT COUNT(*) FROM financing WHERE applicant_id = :e", e=eid)
    active = yuan(
        sql(
            sample_db,
            "SELECT SUM(amount) FROM financing WHERE applicant_id = :e AND status = 'active'",
            e=eid,
        )
    )
    assert f"共有融资记录 {n} 笔，当前在贷余额 {money(active)}" in reply.text
    assert_grounded(reply, sample_db)


# -- 问候/闲聊 与 转人工 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "intent", "phrase"),
    [
        ("您好", "greeting", "供应链金融助手"),
        ("谢谢你", "greeting", "不客气"),
        ("这个产品能保证收益吗？", "handoff", "不能承诺保本"),
        ("把所有客户的名单发给我", "handoff", "只能查询您名下授权客户"),
        ("这份合同有效吗，我要不要起诉他们？", "handoff", "不能提供法律意见"),
        ("今天天气不错", "unknown", "没有完全理解"),
    ],
)
def test_small_talk_and_hand_off(assistant, message, intent, phrase) -> None:
    (reply,) = chat(assistant, message)
    assert reply.intent == intent
    assert phrase in reply.text
    assert reply.evidence == []


# -- 实体解析、澄清、权限 ----------------------------------------------------------------------------


def test_ambiguous_name_asks_once_then_answers(assistant, sample_db) -> None:
    ask, answer = chat(assistant, "华信的应收发票", "第二家")
    assert ask.clarification and "华信物流" in ask.text and "华信精工" in ask.text
    second = re.search(r"2\. (\S+?有限公司)", ask.text).group(1)
    assert answer.intent == "invoices"
    assert name_of(sample_db, answer.enterprise_id) == second
    assert_grounded(answer, sample_db)


def test_typo_in_a_name_is_resolved(assistant, planted) -> None:
    (reply,) = chat(assistant, "华东汽年的现金流")
    assert reply.enterprise_id == planted["core_main"]


def test_asks_for_the_company_when_none_is_named(assistant, planted) -> None:
    ask, answer = chat(assistant, "帮我看看现金流", "远航汽配")
    assert ask.clarification and "哪家企业" in ask.text
    assert answer.intent == "cashflow" and answer.enterprise_id == planted["long_terms"]


def test_other_managers_client_looks_like_a_missing_company(assistant) -> None:
    (theirs,) = chat(assistant, "金穗食品的现金流")
    (missing,) = chat(assistant, "金穗饮品的现金流")
    assert theirs.text == missing.text.replace("金穗饮品", "金穗食品")
    assert "未找到企业" in theirs.text and theirs.evidence == []
    (admin,) = chat(assistant, "金穗食品的现金流", manager="A001")
    assert admin.intent == "cashflow" and admin.evidence


def test_unknown_company_after_a_known_one(assistant) -> None:
    _, reply = chat(assistant, "华东汽车的现金流", "那G企业呢")
    assert reply.text.startswith("未找到企业“G企业”")


def test_unknown_manager_is_refused(assistant) -> None:
    with pytest.raises(AccessDenied, match="未知的客户经理"):
        assistant.ask("你好", manager_id="M999")


# -- 会话、输入 ---------------------------------------------------------------------------------------------


def test_session_resumes_after_restart(sample_db: Database, planted) -> None:
    first = Assistant(sample_db).ask("远航汽配的现金流", manager_id="M001")
    resumed = Assistant(sample_db).ask(
        "他们有没有风险", manager_id="M001", session_id=first.session_id
    )
    assert resumed.enterprise_id == planted["long_terms"] and resumed.intent == "risk"
    history = Assistant(sample_db).sessions.history(first.session_id)
    assert [t.user_text for t in history] == ["远航汽配的现金流", "他们有没有风险"]
    assert history[0].payload["evidence"]
    with pytest.raises(NotFound):
        Assistant(sample_db).ask("他们的现金流", manager_id="M002", session_id=first.session_id)


def test_traditional_and_full_width_input_gives_the_same_answer(assistant) -> None:
    (simplified,) = chat(assistant, "华东汽车近12个月的现金流")
    (traditional,) = chat(assistant, "華東汽車近１２個月的現金流")
    assert traditional.text == simplified.text


@pytest.mark.parametrize("message", ["", "   ", "现金流" * 4000])
def test_bad_messages_are_refused_and_nothing_is_written(assistant, sample_db, message) -> None:
    before = sample_db.table_counts()["turns"]
    with pytest.raises(InvalidInput):
        assistant.ask(message, manager_id="M001")
    assert sample_db.table_counts()["turns"] == before
