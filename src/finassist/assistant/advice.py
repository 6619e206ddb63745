"""Composers for product matching, product questions and the cash-flow health report (its
figures and conclusion from :func:`finassist.report.build.health_facts`, as the CLI's report)."""

from __future__ import annotations

from typing import Any

from finassist.assistant.compose import count, days, iso, money, percent, template
from finassist.assistant.handlers import Answer, TurnInput, _fmt, handler
from finassist.finance.base import jsonable
from finassist.finance.figures import unit_value
from finassist.report.build import health_facts


@handler("product_match")
def product_match(turn: TurnInput) -> Answer:
    result = turn.call("recommend_products", enterprise_id=turn.enterprise_id)
    rec = result.data
    if not rec.get("recommended_product"):
        return Answer(
            [
                _fmt(
                    "recommend.none",
                    name=turn.name,
                    rationale=rec.get("rationale", ""),
                    cite=turn.book.cite_tool(result),
                )
            ],
            recommendation=jsonable(rec),
        )
    low, high = rec["recommended_rate_range"]
    lines = [
        _fmt(
            "recommend.summary",
            name=turn.name,
            product=rec["recommended_product_name"],
            amount=money(rec["recommended_amount"]),
            low=low,
            high=high,
            confidence=percent(rec["confidence"]),
            risk=rec["risk_score"],
            cite=turn.book.cite_value(
                result, rec["recommended_amount"], rec["risk_score"], low, high, rec["confidence"]
            ),
        ),
        template("recommend.drivers"),
    ]
    for driver in rec.get("drivers", [])[:3]:
        lines.append(
            _fmt(
                "recommend.driver",
                label=driver["name"],
                value=unit_value(driver["value"], driver.get("unit")),
                cite=turn.book.cite_value(result, driver["value"], kinds=("metric",)),
            )
        )
    if rec.get("rationale"):
        lines.append(_fmt("recommend.rationale", rationale=rec["rationale"]))
    if rec.get("risk_reasons"):
        lines.append(
            _fmt(
                "recommend.reasons",
                reasons="；".join(rec["risk_reasons"]),
                cite=turn.book.cite_records(_risk_inputs(result, rec["enterprise_id"])),
            )
        )
    if rec.get("escalate_to_human"):
        lines.append(template("recommend.escalate"))
    return Answer(lines, recommendation=jsonable(rec))


def _risk_inputs(result: Any, enterprise_id: str) -> list[Any]:
    """The metric records the risk score was computed from: each reason states one of them."""
    by_id = {r.id: r for r in result.records}
    score = by_id.get(f"metric:{enterprise_id}:risk_score")
    inputs = score.data.get("inputs", []) if score is not None else []
    return [by_id[i] for i in inputs if i in by_id]


def _product_named(text: str, products: list[dict[str, Any]]) -> dict[str, Any] | None:
    for product in sorted(products, key=lambda p: len(p["name"]), reverse=True):
        if product["name"] in text or product["code"] in text:
            return product
    if "保理" in text:
        return next((p for p in products if p["code"] == "reverse_factoring"), None)
    return None


def product_info(turn: TurnInput) -> Answer:
    listing = turn.call("list_products")
    products = listing.data["products"]
    chosen = _product_named(turn.text, products)
    if chosen is None:
        lines = [_fmt("product.list_head", n=count(len(products)))]
        for product in products:
            lines.append(
                _fmt(
                    "product.list_item",
                    name=product["name"],
                    summary=product.get("summary") or product.get("description", ""),
                    cite=turn.book.cite_value(listing, product["code"], kinds=("product",)),
                )
            )
        return Answer(lines)
    result = turn.call("get_product", product=chosen["code"])
    product = result.data.get("product", result.data)
    cite = turn.book.cite_value(result, product["code"], kinds=("product",))
    lines = [
        _fmt("product.detail", name=product["name"], description=product["description"], cite=cite)
    ]
    if product.get("fits_when"):
        fits = product["fits_when"]
        lines.append(_fmt("product.fits", fits="；".join(fits) if isinstance(fits, list) else fits))
    rate = product.get("rate_range")
    if rate:
        lines.append(
            _fmt("product.rate", low=rate[0], high=rate[1], term=product.get("term", ""), cite=cite)
        )
    if product.get("materials"):
        lines.append(_fmt("product.materials", materials="、".join(product["materials"])))
    return Answer(lines)


@handler("report")
def report(turn: TurnInput) -> Answer:
    eid = turn.enterprise_id
    facts = health_facts(lambda tool, **args: turn.call(tool, enterprise_id=eid, **args))
    flow, behavior, conc, risk = facts.flow, facts.behavior, facts.concentration, facts.risk
    b, c = behavior.data, conc.data
    lines = [
        _fmt(
            "report.title",
            name=turn.name,
            as_of=iso(flow.data["end"]),
            cite=turn.book.cite_value(flow, flow.data["end"]),
        ),
        _fmt(
            "report.scale",
            sales=money(c["total"]),
            inflow=money(flow.data["inflow"]),
            outflow=money(flow.data["outflow"]),
            cite=turn.book.cite_value(conc, c["total"])
            + turn.book.cite_value(flow, flow.data["inflow"], flow.data["outflow"]),
        ),
        _fmt(
            "report.dso",
            dso=days(b["dso_days"]),
            cite=turn.book.cite_value(behavior, b["dso_days"]),
        ),
        _fmt(
            "report.overdue",
            count=count(b["overdue_count"]),
            amount=money(b["overdue_outstanding"]),
            rate=percent(b["overdue_rate"]),
            cite=turn.book.cite_value(
                behavior, b["overdue_outstanding"], b["overdue_rate"], b["overdue_count"]
            ),
        ),
        _fmt(
            "report.concentration",
            top1=percent(c["top1_share"]),
            top5=percent(c["top5_share"]),
            cite=turn.book.cite_value(conc, c["top1_share"], c["top5_share"]),
        ),
        _fmt(
            "report.risk",
            level=risk.data["risk_level"],
            n=count(len(risk.data["events"])),
            cite=turn.book.cite_tool(risk),
        ),
    ]
    lines.append(_fmt("report.conclusion", conclusion=facts.conclusion))
    return Answer(lines)
