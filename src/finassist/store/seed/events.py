"""Events around the trade: purchase orders, financing applications and public-record risks.

Each stage reads the world (and, for risks, what the trade stage noted) and draws from its own
streams, so none of them changes the invoices. Planted companies get fixed stories here: the
cash-stressed supplier's monthly early payments, the overdue loan behind an execution, the
big open order, the risk events listed under ``planted_risks`` in ``data/seed.yaml``.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from finassist.store.seed.cast import Company, Month, World, stream
from finassist.store.seed.trade import TradeFacts
from finassist.store.seed.writer import Sink, yuan

# -- orders ------------------------------------------------------------------------------------


def write_orders(
    sink: Sink, world: World, data: dict[str, Any], months: list[Month], as_of: int, seed: int
) -> None:
    """About one purchase order a month per relationship; those not yet delivered are open."""
    counters: dict[str, int] = {}

    def order_no(placed: int, rng: random.Random) -> str:
        day = date.fromordinal(placed)
        month_key = f"{day.year}{day.month:02d}"
        counters[month_key] = counters.get(month_key, 0) + rng.randint(1, 5)
        return f"PO{month_key}{counters[month_key]:07d}"

    for edge in world.edges:
        if edge.kind == "trade":
            continue
        rng = stream(seed, "orders", edge.seller.id, edge.buyer.id)
        for month in months:
            parts = 1 + (rng.random() < 0.2)
            for _ in range(parts):
                placed = rng.randint(month.first, min(month.last, month.first + 20))
                volume = edge.volume * month.factor * rng.uniform(0.8, 1.2) / parts
                fen = round(volume / 10_000) * 10_000  # contracts are in whole hundreds of yuan
                if fen <= 0:
                    continue
                delivery = placed + rng.randint(15, 40)
                status = "open" if delivery > as_of else "delivered"
                if status == "delivered" and rng.random() < 0.02:
                    status = "cancelled"
                # Distributors pay part of an order up front; cores pay suppliers on invoice.
                prepaid = 0
                if edge.kind == "distributor":
                    prepaid = round(fen * rng.uniform(0.2, 0.3) / 10_000) * 10_000
                sink.add(
                    "orders",
                    {
                        "order_no": order_no(placed, rng),
                        "buyer_id": edge.buyer.id,
                        "seller_id": edge.seller.id,
                        "amount": yuan(fen),
                        "order_date": date.fromordinal(placed),
                        "delivery_date": date.fromordinal(delivery),
                        "status": status,
                        "prepaid_amount": yuan(prepaid),
                    },
                )
    rng = stream(seed, "orders", "planted")
    for spec in data["planted"]:
        if "open_order" not in spec:
            continue
        buyer = world.by_key[spec["key"]]
        seller = world.by_key[next(iter(spec["cores"]))]
        placed = as_of - 8
        sink.add(
            "orders",
            {
                "order_no": order_no(placed, rng),
                "buyer_id": buyer.id,
                "seller_id": seller.id,
                "amount": Decimal(spec["open_order"]),
                "order_date": date.fromordinal(placed),
                "delivery_date": date.fromordinal(as_of + 45),
                "status": "open",
                "prepaid_amount": Decimal(0),
            },
        )


# -- financing ---------------------------------------------------------------------------------


_PRODUCTS = {
    "supplier": (
        ["reverse_factoring", "order_financing", "purchase_financing", "early_payment"],
        [45, 25, 15, 15],
    ),
    "distributor": (
        ["distribution_financing", "purchase_financing", "order_financing"],
        [60, 30, 10],
    ),
}
_RATINGS = ["AAA", "AA+", "AA", "AA-", "A+", "A", "A-", "BBB+", "BBB", "BBB-", "BB+", "BB", "BB-"]
# Fillers may ask for early payment now and then, never nearly every month like cash_stress.
_MAX_FILLER_EARLY_A_YEAR = 2


class _Financing:
    """Financing applications: random ones for most companies, fixed stories for some planted."""

    def __init__(self, sink: Sink, data: dict[str, Any], months: list[Month], as_of: int):
        self.sink, self.banks, self.months, self.as_of = sink, data["banks"], months, as_of
        self.count = 0

    def add(
        self,
        rng: random.Random,
        company: Company,
        product: str,
        start: int,
        days: int,
        fen: int,
        *,
        bank: str | None = None,
        status: str | None = None,
        may_reject: bool = True,
    ) -> None:
        end = start + days
        if status is None:
            if start > self.as_of - 15:
                weights = [60, 25, 15 if may_reject else 0]
                status = rng.choices(["applied", "approved", "rejected"], weights)[0]
            elif end <= self.as_of:
                status = "rejected" if may_reject and rng.random() < 0.05 else "repaid"
            else:
                status = "active"
        rank = _RATINGS.index(company.rating) if company.rating in _RATINGS else len(_RATINGS)
        low_bp = min(385 + 18 * rank, 570)  # worse rating, dearer money: 3.85 % .. 6.50 %
        self.count += 1
        self.sink.add(
            "financing",
            {
                "id": f"F{self.count:06d}",
                "product": product,
                "applicant_id": company.id,
                "core_id": company.home.id if company.home else None,
                "bank": bank or rng.choice(self.banks),
                "amount": yuan(fen),
                "rate": Decimal(rng.randint(low_bp, low_bp + 80)) / 100,
                "start_date": date.fromordinal(start),
                "end_date": date.fromordinal(end),
                "status": status,
            },
        )

    def random(self, rng: random.Random, company: Company) -> None:
        early_this_year = 0
        starts = sorted(
            rng.randint(self.months[0].first, self.as_of)
            for _ in range(rng.choice([0, 1, 1, 2, 2, 3, 4]))
        )
        for start in starts:
            product = rng.choices(*_PRODUCTS[company.role])[0]
            if product == "early_payment" and start > self.as_of - 365:
                early_this_year += 1
                if early_this_year > _MAX_FILLER_EARLY_A_YEAR:
                    product = "reverse_factoring"
            days = rng.randint(30, 60) if product == "early_payment" else rng.choice([90, 180, 360])
            fen = max(1, round(company.sales * rng.uniform(0.5, 2.5) / 1_000_000)) * 1_000_000
            self.add(rng, company, product, start, days, fen)

    def cash_stress(self, rng: random.Random, company: Company) -> None:
        """Early payment every month for 15 months, from one bank, the latest just applied."""
        bank = rng.choice(self.banks)
        day = date.fromordinal(self.as_of).day
        for month in self.months[-15:]:
            # Late in each month, so every one of the last 12 also lies in the last 365 days.
            start = max(month.first, min(month.last, month.first + day - 1) - rng.randint(0, 3))
            fen = round(company.sales * rng.uniform(0.6, 0.9) / 1_000_000) * 1_000_000
            self.add(
                rng,
                company,
                "early_payment",
                start,
                rng.randint(30, 45),
                fen,
                bank=bank,
                may_reject=False,
            )

    def execution(self, rng: random.Random, company: Company) -> None:
        self.random(rng, company)
        fen = round(company.sales * 1.5 / 1_000_000) * 1_000_000
        self.add(rng, company, "reverse_factoring", self.as_of - 200, 180, fen, status="overdue")

    def healthy(self, rng: random.Random, company: Company) -> None:
        for month in rng.sample(self.months[2:12], 2):
            fen = round(company.sales / 1_000_000) * 1_000_000
            start = rng.randint(month.first, month.last)
            self.add(rng, company, "reverse_factoring", start, 90, fen, may_reject=False)

    def large_order(self, rng: random.Random, company: Company) -> None:
        """No financing yet: the big order is what it would need financing for."""


def write_financing(
    sink: Sink, world: World, data: dict[str, Any], months: list[Month], as_of: int, seed: int
) -> None:
    """Financing applications of every non-core company: its story, or random ones."""
    financing = _Financing(sink, data, months, as_of)
    stories: dict[str, Callable[[random.Random, Company], None]] = {
        "cash_stress": financing.cash_stress,
        "execution": financing.execution,
        "healthy": financing.healthy,
        "large_order": financing.large_order,
    }
    for company in world.companies:
        if company.role != "core":
            story = stories.get(company.key or "", financing.random)
            story(stream(seed, "financing", company.id), company)


# -- risk events -------------------------------------------------------------------------------


_FILLER_RISKS = (["litigation", "admin_penalty", "tax_violation"], [50, 35, 15])
_FILLER_RISK_SEVERITY = {
    "litigation": ["medium", "low"],
    "admin_penalty": ["low"],
    "tax_violation": ["medium"],
}
_FILLER_RISK_FEN = {
    "litigation": (5_000_000, 80_000_000),
    "admin_penalty": (1_000_000, 20_000_000),
    "tax_violation": (2_000_000, 50_000_000),
}


def write_risks(
    sink: Sink,
    world: World,
    data: dict[str, Any],
    facts: TradeFacts,
    months: list[Month],
    as_of: int,
    seed: int,
) -> None:
    """Public-record events: a few for fillers, the planted ones, the flagged invoices."""
    texts = data["risk_texts"]
    count = 0

    def add(
        rng: random.Random,
        company: Company,
        kind: str,
        when: int,
        fen: int | None,
        severity: str,
        status: str,
        **extra: Any,
    ) -> None:
        nonlocal count
        spec = texts[kind]
        pool = world.chain_pool.get(company.chain) or world.companies
        other = next(c for c in (rng.choice(pool) for _ in range(100)) if c is not company)
        values = {
            "name": company.name,
            "other": other.name,
            "court": company.region.court,
            "case": company.region.case,
            "year": date.fromordinal(when).year,
            "num": rng.randint(100, 9999),
            "date": date.fromordinal(when).isoformat(),
            "amount": f"{yuan(fen or 0):,.2f}",
            "outcome": spec["outcome"][status],
            **extra,
        }
        count += 1
        sink.add(
            "risk_events",
            {
                "id": f"R{count:06d}",
                "enterprise_id": company.id,
                "kind": kind,
                "title": rng.choice(spec["titles"]).format(**values),
                "detail": spec["detail"].format(**values).strip(),
                "amount": yuan(fen) if fen is not None else None,
                "event_date": date.fromordinal(when),
                "severity": severity,
                "status": status,
                "source": spec["source"],
                "invoice_no": extra.get("invoice_no"),
            },
        )

    for company in world.companies:
        rng = stream(seed, "risks", company.id)
        if company.key is None and rng.random() < 0.08:
            kind = rng.choices(*_FILLER_RISKS)[0]
            fen = rng.randint(*_FILLER_RISK_FEN[kind]) // 100 * 100
            status = "closed" if rng.random() < 0.85 else "open"
            when = rng.randint(months[0].first, as_of)
            add(rng, company, kind, when, fen, rng.choice(_FILLER_RISK_SEVERITY[kind]), status)
        elif company.role == "core" and rng.random() < 0.5:
            when = rng.randint(months[0].first, as_of - 180)
            add(rng, company, "litigation", when, rng.randint(10**6, 10**8), "low", "closed")
        for event in data["planted_risks"].get(company.key or "", []):
            add(
                rng,
                company,
                event["kind"],
                as_of - event["days_ago"],
                event["amount"] * 100,
                event["severity"],
                event["status"],
            )
    for flagged in facts.abnormal:
        seller = flagged["seller"]
        rng = stream(seed, "risks", flagged["invoice_no"])
        median = statistics.median(facts.amounts[seller.id])
        add(
            rng,
            seller,
            "abnormal_invoice",
            min(as_of, flagged["issue"] + rng.randint(3, 10)),
            flagged["fen"],
            "high",
            "open",
            invoice_no=flagged["invoice_no"],
            # The event is dated when monitoring flagged it; the text quotes the invoice's own
            # issue date, which must agree with the invoices table.
            issued=date.fromordinal(flagged["issue"]).isoformat(),
            buyer=flagged["buyer"].name,
            median=f"{yuan(int(median)):,.2f}",
            ratio=f"{flagged['fen'] / median:.1f}",
        )
