"""Trade: the invoices along every edge, month by month, and the payments that settle them.

How a buyer pays is a behaviour named in ``data/seed.yaml`` (``normal``, ``punctual``,
``early``, ``on_due``, ``stopped``), looked up in the ``_BEHAVIOURS`` registry: each turns one
invoice into a payment plan. :func:`write_trade` is the million-row loop; it also keeps what
the risk stage needs to know about the planted outsized invoices (:class:`TradeFacts`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from finassist.store.seed.cast import Month, World, stream
from finassist.store.seed.writer import CHUNK_ROWS, Progress, Sink, yuan

PayPlan = list[tuple[int, int, str]]  # (date ordinal, fen, payment kind)


# -- payment behaviours: how a buyer settles one invoice ---------------------------------------


def _on_time(rng: random.Random, issue: int, due: int, total: int, as_of: int) -> PayPlan:
    return [(max(issue + 1, due - rng.randint(0, 5)), total, "regular")]


def _normal(rng: random.Random, issue: int, due: int, total: int, as_of: int) -> PayPlan:
    """Mostly around the due date, now and then early, through financing, or in two parts."""
    draw = rng.random()
    if draw < 0.03:
        return [(max(issue + 1, min(issue + rng.randint(10, 30), due - 1)), total, "early")]
    if draw < 0.07:
        return [(max(issue + 1, min(issue + rng.randint(15, 40), due - 1)), total, "financing")]
    if draw < 0.09:
        first = int(total * rng.uniform(0.3, 0.7))
        return [
            (max(issue + 1, due - rng.randint(3, 10)), first, "regular"),
            (due + rng.randint(0, 10), total - first, "regular"),
        ]
    # Fillers are at most 25 days late, so none of them looks like the planted `overdue`.
    late = rng.randint(-7, 10) if rng.random() > 0.02 else rng.randint(11, 25)
    return [(max(issue + 1, due + late), total, "regular")]


def _early(rng: random.Random, issue: int, due: int, total: int, as_of: int) -> PayPlan:
    """Paid early through the core's early-payment programme, nine times in ten."""
    if rng.random() < 0.9:
        return [(max(issue + 1, min(issue + rng.randint(10, 25), due - 1)), total, "early")]
    return _on_time(rng, issue, due, total, as_of)


def _on_due(rng: random.Random, issue: int, due: int, total: int, as_of: int) -> PayPlan:
    return [(max(issue + 1, due - rng.randint(0, 2)), total, "regular")]


def _stopped(rng: random.Random, issue: int, due: int, total: int, as_of: int) -> PayPlan:
    """Paid until four months ago; since then nothing, or now and then 30 % of an invoice."""
    if due <= as_of - 120:
        return [(max(issue + 1, due + rng.randint(-3, 8)), total, "regular")]
    if rng.random() < 0.2:
        return [(due - rng.randint(0, 3), int(total * 0.3), "regular")]
    return []


_BEHAVIOURS: dict[str, Callable[[random.Random, int, int, int, int], PayPlan]] = {
    "normal": _normal,
    "punctual": _on_time,
    "early": _early,
    "on_due": _on_due,
    "stopped": _stopped,
}
_VOID_SHARE = {"normal": 0.004}


# -- invoices and payments ---------------------------------------------------------------------


@dataclass
class TradeFacts:
    """What later stages need from the invoices: the planted outsized ones and their context."""

    abnormal: list[dict[str, Any]] = field(default_factory=list)
    amounts: dict[str, list[int]] = field(default_factory=dict)  # seller id -> fen, when needed


def write_trade(
    sink: Sink, world: World, months: list[Month], as_of: int, seed: int, notify: Progress
) -> TradeFacts:
    """Invoices and the payments that settle them, edge by edge, month by month.

    This is the million-row loop, so it stays one flat function: rows are plain dicts with
    ready Decimals, appended straight to the sink's buffers and flushed in chunks.
    """
    facts = TradeFacts()
    numbers: dict[tuple[int, str], int] = {}
    number_rng = stream(seed, "invoice-numbers")
    invoices_out, payments_out = sink.rows["invoices"], sink.rows["payments"]
    paid_count = 0
    zero = Decimal("0.00")
    watched = {e.seller.id for e in world.edges if e.abnormal}
    for index, edge in enumerate(world.edges):
        rng = stream(seed, "trade", edge.seller.id, edge.buyer.id)
        seller_id, buyer_id, province = edge.seller.id, edge.buyer.id, edge.seller.region.invoice
        ticket, tax_pct, terms = edge.seller.ticket, edge.seller.tax, edge.terms
        plan = _BEHAVIOURS[edge.behaviour]
        void_share = _VOID_SHARE.get(edge.behaviour, 0.0)
        per_month = edge.volume / ticket
        amounts = facts.amounts.setdefault(seller_id, []) if seller_id in watched else None
        # Outsized invoices fall four to six months back: recent, yet already due and paid.
        outsized = set(range(len(months) - 4 - edge.abnormal, len(months) - 4))
        carry = rng.random()
        for month_index, month in enumerate(months):
            # Carrying the fraction over keeps deliveries steady even on thin edges.
            carry += per_month * month.factor * rng.uniform(0.85, 1.15)
            count = int(carry)
            carry -= count
            big = month_index in outsized
            for slot in range(count + big):
                issue = rng.randint(month.first, month.last)
                if big and slot == count:
                    fen = int(ticket * rng.uniform(15, 25))  # the planted outsized invoice
                else:
                    fen = int(ticket * min(max(rng.lognormvariate(0.0, 0.45), 0.3), 3.0))
                tax = (fen * tax_pct + 50) // 100
                total = fen + tax
                due = issue + terms
                key = (month.yy, province)
                number = numbers.get(key) or number_rng.randint(10**8, 10**9)
                numbers[key] = number = number + rng.randint(1, 9)
                invoice_no = f"{month.yy:02d}{province}2{number:015d}"
                if amounts is not None:
                    amounts.append(fen)
                if big and slot == count:
                    facts.abnormal.append(
                        {
                            "invoice_no": invoice_no,
                            "seller": edge.seller,
                            "buyer": edge.buyer,
                            "fen": fen,
                            "issue": issue,
                        }
                    )
                status, paid_fen, last_paid = "unpaid", 0, 0
                if void_share and rng.random() < void_share:
                    status = "void"
                else:
                    for paid_on, part, kind in plan(rng, issue, due, total, as_of):
                        if paid_on > as_of:
                            continue
                        paid_count += 1
                        paid_fen += part
                        last_paid = max(last_paid, paid_on)
                        payments_out.append(
                            {
                                "id": f"P{paid_count:09d}",
                                "invoice_no": invoice_no,
                                "payer_id": buyer_id,
                                "payee_id": seller_id,
                                "amount": yuan(part),
                                "paid_date": date.fromordinal(paid_on),
                                "kind": kind,
                            }
                        )
                    if paid_fen:
                        status = "paid" if paid_fen == total else "partial"
                invoices_out.append(
                    {
                        "invoice_no": invoice_no,
                        "seller_id": seller_id,
                        "buyer_id": buyer_id,
                        "amount": yuan(fen),
                        "tax": yuan(tax),
                        "issue_date": date.fromordinal(issue),
                        "due_date": date.fromordinal(due),
                        "status": status,
                        "paid_date": date.fromordinal(last_paid) if last_paid else None,
                        "paid_amount": yuan(paid_fen) if paid_fen else zero,
                    }
                )
            if len(invoices_out) >= CHUNK_ROWS or len(payments_out) >= CHUNK_ROWS:
                sink.flush()
        if index % 50 == 0:
            notify("发票与付款", index, len(world.edges))
    sink.flush()
    notify("发票与付款", len(world.edges), len(world.edges))
    return facts
