"""The product recommendation, its drivers (checked against SQL), the rules and the catalogue."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import text

from finassist.errors import ConfigError, NotFound
from finassist.finance.base import ToolContext, get_tool
from finassist.finance.catalogue import load_catalogue, parse_catalogue
from finassist.finance.recommend import Condition, Recommendation, assess, load_rules, recommend
from finassist.store import Database

D = Decimal
AS_OF = date(2026, 10, 31)


def sql_value(db: Database, query: str, **params: object) -> object:
    with db.read() as conn:
        return conn.execute(text(query), params).scalar()


def fen(value: object) -> Decimal:
    return (D(int(value or 0)) / 100).quantize(D("0.01"))


# Independent SQL for the features the drivers report.
def months_with_early_payment_request(db: Database, eid: str) -> Decimal:
    with db.read() as conn:
        days = conn.execute(
            text(
                "SELECT start_date FROM financing WHERE applicant_id = :e "
                "AND product = 'early_payment' AND start_date BETWEEN :s AND :t"
            ),
            {"e": eid, "s": date(2025, 11, 1), "t": AS_OF},
        ).scalars()
        # SQLite hands raw dates back as text, the servers as dates: compare "YYYY-MM".
        return D(len({str(d)[:7] for d in days}))


def eligible_receivable(db: Database, eid: str) -> Decimal:
    return fen(
        sql_value(
            db,
            "SELECT SUM(amount + tax - paid_amount) FROM invoices WHERE seller_id = :e "
            "AND status IN ('unpaid', 'partial') AND due_date >= :d AND buyer_id IN "
            "(SELECT id FROM enterprises WHERE role = 'core')",
            e=eid,
            d=AS_OF,
        )
    )


def avg_payment_terms(db: Database, eid: str) -> Decimal:
    with db.read() as conn:
        terms = conn.execute(
            text("SELECT payment_terms_days FROM relationships WHERE counterparty_id = :e"),
            {"e": eid},
        ).scalars()
        values = [D(t) for t in terms]
    return (sum(values) / len(values)).quantize(D("0.1"))


def open_order_amount(db: Database, eid: str) -> Decimal:
    return fen(
        sql_value(
            db,
            "SELECT SUM(amount - prepaid_amount) FROM orders "
            "WHERE buyer_id = :e AND status = 'open'",
            e=eid,
        )
    )


SQL_FEATURES: dict[str, Callable[[Database, str], Decimal]] = {
    "months_with_early_payment_request": months_with_early_payment_request,
    "eligible_receivable": eligible_receivable,
    "avg_payment_terms_days": avg_payment_terms,
    "open_order_amount": open_order_amount,
}


@pytest.mark.parametrize(
    ("eid", "product", "amount", "rates", "confidence"),
    [
        # 6 months with early-payment requests; 352,000 of undue core receivables x 90%
        ("S1", "early_payment", "310000.00", ("3.50", "5.50"), 0.8),
        # 180-day terms; 2,034,000 of undue receivables from C1 x 80%
        ("S2", "reverse_factoring", "1620000.00", ("3.20", "4.80"), 1.0),
        # an 8,000,000 open order with its core C1 x 70%
        ("D1", "purchase_financing", "5600000.00", ("3.80", "5.50"), 1.0),
        # a 1,800,000 open order with C2, no relationship: the core does not take part; x 50%
        ("D2", "distribution_financing", "900000.00", ("4.50", "7.00"), 0.9),
    ],
)
def test_recommended_product_amount_and_rates(
    make_ctx: Callable[..., ToolContext],
    eid: str,
    product: str,
    amount: str,
    rates: tuple[str, str],
    confidence: float,
) -> None:
    rec = recommend(make_ctx("M001"), eid)
    assert rec.recommended_product == product
    assert rec.recommended_product_name == load_catalogue().get(product).name
    assert rec.recommended_amount == D(amount)
    assert rec.recommended_rate_range == [D(rates[0]), D(rates[1])]
    assert rec.confidence == confidence
    assert rec.rationale.startswith("建议") and rec.recommended_product_name in rec.rationale


def test_drivers_equal_sql_computed_features(make_ctx: Callable[..., ToolContext]) -> None:
    ctx = make_ctx("M001")
    checked = 0
    for eid in ("S1", "S2", "D1", "D2"):
        rec = recommend(ctx, eid)
        assert 1 <= len(rec.drivers) <= 3
        contributions = [d.contribution for d in rec.drivers]
        assert contributions == sorted(contributions, reverse=True)
        for driver in rec.drivers:
            if driver.key in SQL_FEATURES:
                assert driver.value == SQL_FEATURES[driver.key](ctx.db, eid), (eid, driver.key)
                checked += 1
    assert checked >= 5


def test_cash_stressed_supplier_in_detail(make_ctx: Callable[..., ToolContext]) -> None:
    rec = recommend(make_ctx("M001"), "S1")
    assert [(d.key, d.value, d.unit) for d in rec.drivers] == [
        ("months_with_early_payment_request", D(6), "个月"),
        ("eligible_receivable", D("352000.00"), "元"),
    ]
    # overdue rate 0.4906 -> 40 x (0.4906 - 0.05) / 0.45 = 39.2 points, rounded up; nothing else
    assert (rec.risk_score, rec.risk_level) == (40, "中")
    assert rec.risk_reasons == ["应收逾期率 49.06%，回款逾期较多"]
    assert rec.escalate_to_human is False
    assert rec.alternatives and all(not a.eligible for a in rec.alternatives)


def test_execution_list_escalates_to_a_human(make_ctx: Callable[..., ToolContext]) -> None:
    rec = recommend(make_ctx("M002"), "S3")
    assert rec.escalate_to_human is True
    assert rec.risk_score >= 60 and rec.risk_level == "高"
    assert "被执行" in rec.risk_reasons[0]
    assert any("被执行" in reason for reason in rec.escalation_reasons)
    assert "转人工" in rec.rationale


def test_nothing_fits_gives_null_product_with_a_reason(
    make_ctx: Callable[..., ToolContext],
) -> None:
    core = recommend(make_ctx("M001"), "C1")
    assert core.recommended_product is None and core.recommended_amount is None
    assert core.drivers == [] and "核心企业" in core.rationale
    dumped = core.model_dump(mode="json")
    assert dumped["recommended_product"] is None and dumped["recommended_rate_range"] is None


def test_recommendation_json_validates_and_round_trips(
    make_ctx: Callable[..., ToolContext],
) -> None:
    rec = recommend(make_ctx("M001"), "S2")
    dumped = rec.model_dump(mode="json")
    assert json.loads(json.dumps(dumped, ensure_ascii=False)) == dumped
    assert Recommendation.model_validate(dumped) == rec
    assert dumped["recommended_amount"] == "1620000.00"
    assert set(dumped) >= {
        "enterprise_id",
        "enterprise_name",
        "recommended_product",
        "recommended_product_name",
        "recommended_amount",
        "recommended_rate_range",
        "confidence",
        "risk_score",
        "risk_reasons",
        "evidence",
        "escalate_to_human",
        "drivers",
        "alternatives",
        "rationale",
    }
    assert set(dumped["drivers"][0]) == {"name", "key", "value", "unit", "weight", "contribution"}
    bad = dict(dumped, recommended_amount=None)
    with pytest.raises(ValueError, match="同时"):
        Recommendation.model_validate(bad)


def test_evidence_ids_are_records_of_the_tool_result(make_ctx: Callable[..., ToolContext]) -> None:
    result = get_tool("recommend_products").run(make_ctx("M001"), {"enterprise_id": "S1"})
    ids = {r.id for r in result.records}
    assert result.data["recommended_product"] == "early_payment"
    assert result.data["evidence"] and set(result.data["evidence"]) <= ids
    assert {"product:early_payment", "metric:S1:recommended_amount", "metric:S1:risk_score"} <= ids
    assert "financing:F4" in ids and "invoice:26312000000000000005" in ids
    for record in result.records:
        if record.kind == "metric":
            assert set(record.data["inputs"]) <= ids, record.id
    for driver in result.data["drivers"]:
        record = next(r for r in result.records if r.id == f"metric:S1:{driver['key']}")
        assert record.data["value"] == driver["value"]


def test_recommendation_is_scoped(make_ctx: Callable[..., ToolContext]) -> None:
    with pytest.raises(NotFound, match="未找到企业“S3”"):
        recommend(make_ctx("M001"), "S3")


def test_condition_scoring() -> None:
    at_least = Condition(feature="x", op=">=", value=D(6), weight=D("0.5"), reason="")
    assert at_least.score(D(6)) == 1 and at_least.score(D(3)) == D("0.5")
    assert at_least.score(None) == 0 and not at_least.met(None)
    below = Condition(feature="x", op="<", value=D("0.5"), weight=D(1), reason="")
    assert below.score(D("0.4")) == 1 and below.score(D("0.6")) == 0


def test_rules_reference_only_known_features_and_products() -> None:
    rules = load_rules()
    assert set(rules.products) == set(load_catalogue().codes())
    assert all(
        cond.feature in rules.features for p in rules.products.values() for cond in p.conditions
    )


def test_features_cover_every_rule(make_ctx: Callable[..., ToolContext]) -> None:
    assessment = assess(make_ctx("M001"), "S1")
    assert set(assessment.features) == set(load_rules().features)


def test_catalogue_has_five_products_in_chinese() -> None:
    catalogue = load_catalogue()
    assert {p.code: p.name for p in catalogue.products} == {
        "reverse_factoring": "反向保理",
        "early_payment": "提前回款",
        "order_financing": "订单融资",
        "purchase_financing": "采购融资",
        "distribution_financing": "经销融资",
    }
    for product in catalogue.products:
        low, high = product.rate_range
        assert D(0) < low <= high < D(20)
        assert product.eligibility and product.materials and product.fits_when
        assert product.applicant in ("supplier", "distributor")
    assert catalogue.get("保兑仓").code == "purchase_financing"  # by alias
    assert catalogue.get("Early_Payment").code == "early_payment"


def test_a_broken_catalogue_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        parse_catalogue("products: [{code: x}]")
    with pytest.raises(ConfigError):
        parse_catalogue("::: not yaml")


PLANTED_EXPECTATIONS = {
    "cash_stress": ("early_payment",),
    "long_terms": ("reverse_factoring",),
    "large_order": ("purchase_financing",),
}


def test_planted_patterns_in_the_sample_data(sample_db: Database) -> None:
    """Smoke test on the seeded sample data (tests/conftest.py seeds it once per session)."""
    planted = json.loads(sample_db.get_meta("planted") or "{}")
    as_of = sample_db.data_as_of()
    assert planted and as_of
    from finassist.finance.base import Caller

    ctx = ToolContext(sample_db, Caller("A001", is_admin=True), as_of)
    for pattern, products in PLANTED_EXPECTATIONS.items():
        rec = recommend(ctx, planted[pattern])
        assert rec.recommended_product in products, (pattern, rec.rationale)
        assert rec.escalate_to_human is False, pattern
    execution = recommend(ctx, planted["execution"])
    assert execution.escalate_to_human is True and execution.risk_score >= 60
    healthy = recommend(ctx, planted["healthy"])
    assert healthy.risk_score < 30 and healthy.risk_level == "低"
    assert healthy.escalate_to_human is False
    overdue = recommend(ctx, planted["overdue"])
    assert overdue.risk_level in ("中", "高") and "逾期" in overdue.risk_reasons[0]
    concentrated = recommend(ctx, planted["concentration"])
    assert any("客户高度集中" in reason for reason in concentrated.risk_reasons)


def test_a_listed_risk_reason_always_shows_in_the_score(sample_db: Database) -> None:
    """A reason listed with a score of 0 reads as a contradiction to a relationship manager
    (it happened with a top customer share just above the 60% threshold)."""
    from finassist.finance.base import Caller
    from finassist.store.schema import enterprises

    ctx = ToolContext(sample_db, Caller("ADMIN", is_admin=True), sample_db.data_as_of())
    with sample_db.read() as conn:
        ids = conn.execute(
            enterprises.select().with_only_columns(enterprises.c.id).where(enterprises.c.role != "core")
        ).scalars().all()  # fmt: skip
    listed = 0
    for eid in ids:
        rec = recommend(ctx, eid)
        assert bool(rec.risk_reasons) == (rec.risk_score > 0), (eid, rec.risk_score)
        listed += bool(rec.risk_reasons)
    assert listed >= 5  # the sample plants several risky enterprises
