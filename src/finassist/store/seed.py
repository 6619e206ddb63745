"""Deterministic sample data: enterprises, 24 months of trade, financing, risk events, managers.

``seed_database(db)`` fills a migrated, empty database with the history of four core
enterprises, the planted companies of ``data/seed.yaml`` (each shows one pattern the assistant
must find; their ids are in the report's and the ``meta`` table's ``planted`` manifest, keys
:data:`PLANTED_KEYS`) and generated filler suppliers and distributors. The same ``seed``,
``scale`` and ``as_of`` always give the same rows. Names, places and texts live in
``data/seed.yaml`` and ``data/seed_names.yaml``; this module holds only the rules.

``scale`` multiplies the filler companies (and so the invoices); planted companies stay as they
are. Measured on SQLite on a 2-core machine: scale=1 writes about 25,000 invoices in under 1 s;
scale=44 is the smallest to pass 1 million invoices (1.05 million, plus 0.99 million payments,
in 40-45 s); scale=50 writes 1.18 million in about 46 s. Rows are inserted in chunks of
CHUNK_ROWS and never all held in memory (peak about 450 MB, most of it SQLite's page cache).

>>> db = Database("sqlite:////tmp/demo.db"); db.migrate()   # doctest: +SKIP
>>> seed_database(db, seed=42).planted["cash_stress"]         # doctest: +SKIP
'E0005'
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from importlib import resources
from typing import Any

import yaml
from sqlalchemy import Connection, func, select

from finassist.errors import InvalidInput
from finassist.store import Database, schema
from finassist.store.uscc import USCC_CHARSET, is_valid_uscc, org_code_check_digit, uscc_check_digit

__all__ = [
    "DEFAULT_AS_OF",
    "PLANTED_KEYS",
    "SeedReport",
    "is_valid_uscc",
    "seed_database",
    "uscc_check_digit",
]

DEFAULT_AS_OF = date(2026, 10, 31)
GENERATOR_VERSION = "1"
HISTORY_MONTHS = 24
CHUNK_ROWS = 10_000
# A big page cache keeps the index b-trees of a million-row insert in memory (SQLite only).
SQLITE_CACHE_KIB = 256 * 1024
PLANTED_KEYS = (
    "cash_stress",
    "long_terms",
    "overdue",
    "concentration",
    "large_order",
    "abnormal_invoice",
    "execution",
    "healthy",
    "core_main",
    "other_manager_core",
    "ambiguous",
)

Progress = Callable[[str, int, int], None]
PayPlan = list[tuple[int, int, str]]  # (date ordinal, fen, payment kind)


@dataclass(frozen=True)
class SeedReport:
    """What :func:`seed_database` wrote: rows per table, the data's "today", planted ids, time."""

    counts: dict[str, int]
    as_of: date
    planted: dict[str, str]
    seconds: float


# -- the cast ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Region:
    name: str
    city: str
    division: str  # 6-digit administrative division code (USCC)
    invoice: str  # 2-digit province code (invoice numbers)
    court: str
    case: str


@dataclass(eq=False)
class _Company:
    id: str
    key: str | None  # yaml key of a core or planted company; None for fillers
    name: str
    short_name: str
    aliases: list[str]
    uscc: str
    role: str
    industry: str
    region: _Region
    rating: str
    capital: int  # yuan
    established: date
    chain: str
    manager: str
    sales: float  # monthly sales, fen, excluding tax
    ticket: float  # typical invoice amount, fen
    tax: int  # VAT percent
    home: _Company | None = None  # the main core of a supplier or distributor


@dataclass(eq=False)
class _Edge:
    """Who sells to whom, how much a month, on what terms, and how the buyer pays."""

    seller: _Company
    buyer: _Company
    kind: str  # supplier | distributor (a relationship) | trade (none)
    volume: float  # fen a month, excluding tax
    terms: int
    behaviour: str
    since: date | None = None
    abnormal: int = 0  # how many outsized invoices to plant


@dataclass
class _World:
    companies: list[_Company]
    edges: list[_Edge]
    by_key: dict[str, _Company]
    chain_pool: dict[str, list[_Company]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Month:
    first: int  # date ordinals
    last: int
    yy: int
    factor: float  # seasonality x growth x the share of the month before as_of


def _rng(seed: int, *labels: object) -> random.Random:
    """An independent stream per purpose, so that one part's draws never shift another's."""
    return random.Random("/".join(str(part) for part in (seed, *labels)))


def _load_data() -> dict[str, Any]:
    folder = resources.files("finassist.store") / "data"
    data: dict[str, Any] = {}
    for name in ("seed.yaml", "seed_names.yaml"):
        data.update(yaml.safe_load((folder / name).read_text(encoding="utf-8")))
    return data


def _weighted(rng: random.Random, items: list[dict[str, Any]], value: str) -> Any:
    return rng.choices(items, weights=[item["weight"] for item in items])[0][value]


# Chinese New Year dents February; firms close the books with a December push.
_SEASON = {1: 0.95, 2: 0.75, 3: 1.0, 6: 1.05, 9: 1.05, 11: 1.05, 12: 1.15}


def _months(as_of: date) -> list[_Month]:
    """The HISTORY_MONTHS calendar months ending with as_of's (cut at as_of)."""
    months = []
    for back in range(HISTORY_MONTHS - 1, -1, -1):
        index = as_of.year * 12 + as_of.month - 1 - back
        first = date(index // 12, index % 12 + 1, 1)
        following = date((index + 1) // 12, (index + 1) % 12 + 1, 1)
        last = min(following - timedelta(days=1), as_of)
        share = (last - first).days + 1
        factor = _SEASON.get(first.month, 1.0) * (1 + 0.006 * (HISTORY_MONTHS - back))
        factor *= share / (following - first).days
        months.append(_Month(first.toordinal(), last.toordinal(), first.year % 100, factor))
    return months


class _Namer:
    """Unique company names and short names; fillers never borrow a core's or planted 字号."""

    def __init__(self, data: dict[str, Any], fixed: list[dict[str, Any]]) -> None:
        parts = data["trade_name"]
        self.trade_names = [a + b for a in parts["first"] for b in parts["second"] if a != b]
        self.suffixes = data["suffixes"]
        self.blocked = [spec["short_name"][:2] for spec in fixed]
        self.names = {spec["name"] for spec in fixed}
        self.shorts = {spec["short_name"] for spec in fixed}
        self.usccs: set[str] = set()

    def _free(self, text: str) -> bool:
        return not any(block in text for block in self.blocked)

    def filler(
        self, rng: random.Random, industry: dict[str, Any], region: _Region
    ) -> tuple[str, str, list[str]]:
        for attempt in range(10_000):
            trade_name = rng.choice(self.trade_names)
            word = rng.choice(industry["words"])
            short = trade_name + rng.choice(industry["short"])
            if attempt >= 30:  # a crowded industry: a place name makes the short name unique
                short = region.city + short
            if attempt >= 1_000:
                short += str(attempt)
            suffix = _weighted(rng, self.suffixes, "text")
            name = f"{region.city}{trade_name}{word}{suffix}"
            if name in self.names or short in self.shorts:
                continue
            if not (self._free(name) and self._free(short)):
                continue
            self.names.add(name)
            self.shorts.add(short)
            aliases = [f"{region.city}{trade_name}{word}厂"] if rng.random() < 0.15 else []
            return name, short, aliases
        raise RuntimeError("ran out of company names; add name parts to seed_names.yaml")

    def uscc(self, rng: random.Random, region: _Region, established: date) -> str:
        """A fresh valid 18-character code: 91 (enterprise) + division + org code + check."""
        while True:
            if established.year >= 2015:  # codes issued after the reform start with MA
                body = "MA" + "".join(rng.choice(USCC_CHARSET) for _ in range(6))
            else:
                body = str(rng.randint(10_000_000, 99_999_999))
            first17 = "91" + region.division + body + org_code_check_digit(body)
            code = first17 + uscc_check_digit(first17)
            if code not in self.usccs:
                self.usccs.add(code)
                return code


# -- building the world ------------------------------------------------------------------------


def _build_world(data: dict[str, Any], *, seed: int, scale: int, as_of: date) -> _World:
    """Every company (cores, planted, then fillers, ids in that order) and who trades with whom."""
    regions = {spec["name"]: _Region(**spec) for spec in data["regions"]}
    chains = data["chains"]
    fixed = data["cores"] + data["planted"]
    filler_count = sum(
        (core["fillers"]["suppliers"] + core["fillers"]["distributors"]) * scale
        for core in data["cores"]
    )
    width = max(4, len(str(len(fixed) + filler_count)))
    namer = _Namer(data, fixed)
    rng = _rng(seed, "companies")
    companies: list[_Company] = []

    def next_id() -> str:
        return f"E{len(companies) + 1:0{width}d}"

    chain_of: dict[str, str] = {core["key"]: core["chain"] for core in data["cores"]}
    for spec in fixed:
        region = regions[spec["region"]]
        is_core = spec in data["cores"]
        invoices_a_month = spec.get("invoices", 1)
        sales = float(spec.get("sales", 0)) * 100
        ticket = float(spec["ticket"]) * 100 if is_core else sales / invoices_a_month
        chain = spec["chain"] if is_core else chain_of[next(iter(spec["cores"]))]
        industry = _find_industry(chains[chain], spec["industry"])
        companies.append(
            _Company(
                id=next_id(),
                key=spec["key"],
                name=spec["name"],
                short_name=spec["short_name"],
                aliases=list(spec["aliases"]),
                uscc=namer.uscc(rng, region, spec["established"]),
                role="core" if is_core else spec["role"],
                industry=spec["industry"],
                region=region,
                rating=spec["rating"],
                capital=int(spec["registered_capital"]),
                established=spec["established"],
                chain=chain,
                manager=spec["manager"],
                sales=sales,
                ticket=ticket,
                tax=industry["tax"] if industry else 13,
            )
        )
    by_key = {c.key: c for c in companies if c.key}
    history_start = date.fromordinal(_months(as_of)[0].first)
    for core in data["cores"]:
        chain = chains[core["chain"]]
        for role, plural in (("supplier", "suppliers"), ("distributor", "distributors")):
            for _ in range(core["fillers"][plural] * scale):
                industry = rng.choice(chain[plural])
                companies.append(
                    _filler(
                        rng, namer, next_id(), role, industry, core, regions, data, history_start
                    )
                )
    world = _World(companies, [], by_key)
    for company in companies:
        if company.key is None:
            world.chain_pool.setdefault(company.chain, []).append(company)
    _link(world, data, _rng(seed, "edges"), history_start)
    return world


def _find_industry(chain: dict[str, Any], name: str) -> dict[str, Any] | None:
    for industry in chain["suppliers"] + chain["distributors"]:
        if industry["industry"] == name:
            return industry
    return None


def _filler(
    rng: random.Random,
    namer: _Namer,
    company_id: str,
    role: str,
    industry: dict[str, Any],
    core: dict[str, Any],
    regions: dict[str, _Region],
    data: dict[str, Any],
    history_start: date,
) -> _Company:
    chain = data["chains"][core["chain"]]
    # Most firms cluster around their core's chain; a few come from anywhere.
    region_name = rng.choice(chain["regions"]) if rng.random() < 0.85 else rng.choice(list(regions))
    region = regions[region_name]
    newest = min(date(2021, 12, 31), history_start - timedelta(days=730)).toordinal()
    established = date.fromordinal(rng.randint(newest - 24 * 365, newest))
    name, short, aliases = namer.filler(rng, industry, region)
    if role == "supplier":
        sales = min(max(rng.lognormvariate(13.9, 0.7), 3e5), 1e7)  # median ~1.1M yuan a month
        invoices = rng.randint(9, 21)
    else:
        sales = min(max(rng.lognormvariate(14.8, 0.6), 6e5), 1.5e7)  # median ~2.7M yuan a month
        invoices = rng.randint(8, 18)
    capital = max(1, round(sales * rng.uniform(2, 10) / 1e6)) * 1_000_000
    return _Company(
        id=company_id,
        key=None,
        name=name,
        short_name=short,
        aliases=aliases,
        uscc=namer.uscc(rng, region, established),
        role=role,
        industry=industry["industry"],
        region=region,
        rating=_weighted(rng, data["ratings"], "rating"),
        capital=capital,
        established=established,
        chain=core["chain"],
        manager=core["manager"],
        sales=sales * 100,
        ticket=sales * 100 / invoices,
        tax=industry["tax"],
    )


# Terms longer than 90 days are left to long_terms, so its receivables stand out.
_SUPPLIER_TERMS = ([30, 45, 60, 90], [2, 3, 4, 2])
_DISTRIBUTOR_TERMS = ([30, 45, 60], [4, 3, 2])
_TRADE_TERMS = [30, 45, 60]


def _link(world: _World, data: dict[str, Any], rng: random.Random, history_start: date) -> None:
    """The edges: supplier->core, core->distributor, cores' projects and trade among fillers."""
    by_key = world.by_key
    cores = [by_key[spec["key"]] for spec in data["cores"]]
    core_specs = {spec["key"]: spec for spec in data["cores"]}
    planted = {spec["key"]: spec for spec in data["planted"]}

    def since(company: _Company) -> date:
        high = history_start.toordinal() - 60
        low = min(max(company.established, date(2012, 1, 1)).toordinal(), high)
        return date.fromordinal(rng.randint(low, high))

    def trade(seller: _Company, share: float, behaviour: str) -> None:
        pool = world.chain_pool[seller.chain]
        if len(pool) < 6:
            pool = [c for c in world.companies if c.key is None]
        # At least three customers with similar weights keep every top-1 share well below 70 %.
        wanted = rng.randint(3, 5)
        customers = [c for c in rng.sample(pool, wanted + 1) if c is not seller][:wanted]
        weights = [rng.uniform(0.6, 1.4) for _ in customers]
        for customer, weight in zip(customers, weights, strict=True):
            volume = seller.sales * share * weight / sum(weights)
            world.edges.append(
                _Edge(seller, customer, "trade", volume, rng.choice(_TRADE_TERMS), behaviour)
            )

    for company in world.companies:
        if company.role == "core":
            continue
        if company.key is not None:
            spec = planted[company.key]
            for key, link in spec["cores"].items():
                core = by_key[key]
                if company.role == "supplier":
                    volume = company.sales * link["share"]
                    edge = _Edge(
                        company, core, "supplier", volume, link["terms"], link["behaviour"]
                    )
                    edge.abnormal = spec.get("abnormal_invoices", 0)
                else:
                    volume = float(spec["purchases"]) * 100
                    edge = _Edge(
                        core, company, "distributor", volume, link["terms"], link["behaviour"]
                    )
                edge.since = since(company)
                world.edges.append(edge)
                company.home = company.home or core
            if "trade" in spec:
                trade(company, spec["trade"]["share"], spec["trade"]["behaviour"])
        else:
            home = next(c for c in cores if c.chain == company.chain)
            company.home = home
            if company.role == "supplier":
                first = rng.uniform(0.35, 0.55)
                second = rng.uniform(0.2, 0.3) if rng.random() < 0.2 else 0.0
                terms = rng.choices(*_SUPPLIER_TERMS)[0]
                edge = _Edge(company, home, "supplier", company.sales * first, terms, "normal")
                edge.since = since(company)
                world.edges.append(edge)
                if second:
                    other = rng.choice([c for c in cores if c is not home])
                    terms = rng.choices(*_SUPPLIER_TERMS)[0]
                    edge = _Edge(
                        company, other, "supplier", company.sales * second, terms, "normal"
                    )
                    edge.since = since(company)
                    world.edges.append(edge)
                trade(company, 1 - first - second, "normal")
            else:
                purchases = company.sales * rng.uniform(0.85, 0.92)
                terms = rng.choices(*_DISTRIBUTOR_TERMS)[0]
                edge = _Edge(home, company, "distributor", purchases, terms, "normal")
                edge.since = since(company)
                world.edges.append(edge)
                trade(company, 1.0, "normal")
    for core in cores:
        projects = core_specs[core.key or ""].get("projects")
        if projects:  # a builder bills the other cores; its income keeps pace with its purchases
            core.tax = projects["tax"]
            spent = sum(e.volume for e in world.edges if e.buyer is core)
            for key, share in projects["customers"].items():
                volume = spent * projects["margin"] * share
                world.edges.append(_Edge(core, by_key[key], "trade", volume, 60, "normal"))
    # Invoices are written seller by seller, which keeps the seller indexes' inserts local.
    position = {c.id: i for i, c in enumerate(world.companies)}
    world.edges.sort(key=lambda e: (position[e.seller.id], position[e.buyer.id]))


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


# -- writing -----------------------------------------------------------------------------------


class _Sink:
    """Row buffers per table, inserted in chunks, parents before children (foreign keys)."""

    ORDER = (
        "enterprises",
        "relationships",
        "managers",
        "manager_clients",
        "invoices",
        "payments",
        "orders",
        "financing",
        "risk_events",
        "meta",
    )

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.rows: dict[str, list[dict[str, Any]]] = {name: [] for name in self.ORDER}
        self.counts = dict.fromkeys(self.ORDER, 0)

    def add(self, table: str, row: dict[str, Any]) -> None:
        self.rows[table].append(row)
        if len(self.rows[table]) >= CHUNK_ROWS:
            self.flush()

    def flush(self) -> None:
        for name in self.ORDER:
            rows = self.rows[name]
            if rows:
                self.conn.execute(schema.metadata.tables[name].insert(), rows)
                self.counts[name] += len(rows)
                rows.clear()


def _yuan(fen: int) -> Decimal:
    return Decimal(fen) / 100


@dataclass
class _TradeFacts:
    """What later stages need from the invoices: the planted outsized ones and their context."""

    abnormal: list[dict[str, Any]] = field(default_factory=list)
    amounts: dict[str, list[int]] = field(default_factory=dict)  # seller id -> fen, when needed


def _write_trade(
    sink: _Sink, world: _World, months: list[_Month], as_of: int, seed: int, notify: Progress
) -> _TradeFacts:
    """Invoices and the payments that settle them, edge by edge, month by month.

    This is the million-row loop, so it stays one flat function: rows are plain dicts with
    ready Decimals, appended straight to the sink's buffers and flushed in chunks.
    """
    facts = _TradeFacts()
    numbers: dict[tuple[int, str], int] = {}
    number_rng = _rng(seed, "invoice-numbers")
    invoices_out, payments_out = sink.rows["invoices"], sink.rows["payments"]
    paid_count = 0
    zero = Decimal("0.00")
    watched = {e.seller.id for e in world.edges if e.abnormal}
    for index, edge in enumerate(world.edges):
        rng = _rng(seed, "trade", edge.seller.id, edge.buyer.id)
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
                                "amount": _yuan(part),
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
                        "amount": _yuan(fen),
                        "tax": _yuan(tax),
                        "issue_date": date.fromordinal(issue),
                        "due_date": date.fromordinal(due),
                        "status": status,
                        "paid_date": date.fromordinal(last_paid) if last_paid else None,
                        "paid_amount": _yuan(paid_fen) if paid_fen else zero,
                    }
                )
            if len(invoices_out) >= CHUNK_ROWS or len(payments_out) >= CHUNK_ROWS:
                sink.flush()
        if index % 50 == 0:
            notify("发票与付款", index, len(world.edges))
    sink.flush()
    notify("发票与付款", len(world.edges), len(world.edges))
    return facts


def _write_parties(sink: _Sink, world: _World, data: dict[str, Any]) -> None:
    """Enterprises, their relationships with cores, managers and who sees whom."""
    for c in world.companies:
        sink.add(
            "enterprises",
            {
                "id": c.id,
                "name": c.name,
                "short_name": c.short_name,
                "aliases": json.dumps(c.aliases, ensure_ascii=False),
                "uscc": c.uscc,
                "role": c.role,
                "industry": c.industry,
                "region": c.region.name,
                "rating": c.rating,
                "registered_capital": Decimal(c.capital),
                "established": c.established,
            },
        )
    for edge in world.edges:
        if edge.kind == "trade":
            continue
        core, other = (
            (edge.buyer, edge.seller) if edge.kind == "supplier" else (edge.seller, edge.buyer)
        )
        sink.add(
            "relationships",
            {
                "core_id": core.id,
                "counterparty_id": other.id,
                "kind": edge.kind,
                "payment_terms_days": edge.terms,
                "since": edge.since,
            },
        )
    for manager in data["managers"]:
        sink.add("managers", dict(manager))
    # Admins see everything by role, so only relationship managers have a client list.
    for c in world.companies:
        sink.add("manager_clients", {"manager_id": c.manager, "enterprise_id": c.id})


def _write_orders(
    sink: _Sink, world: _World, data: dict[str, Any], months: list[_Month], as_of: int, seed: int
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
        rng = _rng(seed, "orders", edge.seller.id, edge.buyer.id)
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
                        "amount": _yuan(fen),
                        "order_date": date.fromordinal(placed),
                        "delivery_date": date.fromordinal(delivery),
                        "status": status,
                        "prepaid_amount": _yuan(prepaid),
                    },
                )
    rng = _rng(seed, "orders", "planted")
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

    def __init__(self, sink: _Sink, data: dict[str, Any], months: list[_Month], as_of: int):
        self.sink, self.banks, self.months, self.as_of = sink, data["banks"], months, as_of
        self.count = 0

    def add(
        self,
        rng: random.Random,
        company: _Company,
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
                "amount": _yuan(fen),
                "rate": Decimal(rng.randint(low_bp, low_bp + 80)) / 100,
                "start_date": date.fromordinal(start),
                "end_date": date.fromordinal(end),
                "status": status,
            },
        )

    def random(self, rng: random.Random, company: _Company) -> None:
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

    def cash_stress(self, rng: random.Random, company: _Company) -> None:
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

    def execution(self, rng: random.Random, company: _Company) -> None:
        self.random(rng, company)
        fen = round(company.sales * 1.5 / 1_000_000) * 1_000_000
        self.add(rng, company, "reverse_factoring", self.as_of - 200, 180, fen, status="overdue")

    def healthy(self, rng: random.Random, company: _Company) -> None:
        for month in rng.sample(self.months[2:12], 2):
            fen = round(company.sales / 1_000_000) * 1_000_000
            start = rng.randint(month.first, month.last)
            self.add(rng, company, "reverse_factoring", start, 90, fen, may_reject=False)

    def large_order(self, rng: random.Random, company: _Company) -> None:
        """No financing yet: the big order is what it would need financing for."""


def _write_financing(
    sink: _Sink, world: _World, data: dict[str, Any], months: list[_Month], as_of: int, seed: int
) -> None:
    financing = _Financing(sink, data, months, as_of)
    stories: dict[str, Callable[[random.Random, _Company], None]] = {
        "cash_stress": financing.cash_stress,
        "execution": financing.execution,
        "healthy": financing.healthy,
        "large_order": financing.large_order,
    }
    for company in world.companies:
        if company.role != "core":
            story = stories.get(company.key or "", financing.random)
            story(_rng(seed, "financing", company.id), company)


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


def _write_risks(
    sink: _Sink,
    world: _World,
    data: dict[str, Any],
    facts: _TradeFacts,
    months: list[_Month],
    as_of: int,
    seed: int,
) -> None:
    """Public-record events: a few for fillers, the planted ones, the flagged invoices."""
    texts = data["risk_texts"]
    count = 0

    def add(
        rng: random.Random,
        company: _Company,
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
            "amount": f"{_yuan(fen or 0):,.2f}",
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
                "amount": _yuan(fen) if fen is not None else None,
                "event_date": date.fromordinal(when),
                "severity": severity,
                "status": status,
                "source": spec["source"],
                "invoice_no": extra.get("invoice_no"),
            },
        )

    for company in world.companies:
        rng = _rng(seed, "risks", company.id)
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
        rng = _rng(seed, "risks", flagged["invoice_no"])
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
            buyer=flagged["buyer"].name,
            median=f"{_yuan(int(median)):,.2f}",
            ratio=f"{flagged['fen'] / median:.1f}",
        )


def _planted_manifest(world: _World) -> dict[str, str]:
    return {key: world.by_key[key].id for key in PLANTED_KEYS}


def seed_database(
    db: Database,
    *,
    seed: int = 42,
    scale: int = 1,
    as_of: date = DEFAULT_AS_OF,
    progress: Progress | None = None,
) -> SeedReport:
    """Fill a migrated, empty database with sample data; everything in one transaction.

    ``progress(stage, done, total)`` is called as stages advance, for a progress bar; stages
    are 企业与关系, 发票与付款 (counted in trading pairs), 订单, 融资记录 and 风险事件.
    Raises :class:`InvalidInput` when ``scale`` < 1 or the database already holds enterprises
    (sample data is never mixed with other data).
    """
    if scale < 1:
        raise InvalidInput(f"样例数据规模 scale 必须是不小于 1 的整数，收到 {scale}。")
    started = time.perf_counter()
    notify: Progress = progress or (lambda stage, done, total: None)
    data = _load_data()
    months = _months(as_of)
    end = as_of.toordinal()
    world = _build_world(data, seed=seed, scale=scale, as_of=as_of)
    planted = _planted_manifest(world)
    with db.write() as conn:
        existing = conn.execute(select(func.count()).select_from(schema.enterprises)).scalar_one()
        if existing:
            raise InvalidInput(
                f"数据库中已有数据（{existing} 家企业）。为避免新旧数据混在一起，"
                "样例数据只写入空数据库：请换一个新的数据库，或清空后再生成。"
            )
        if db.dialect == "sqlite":
            conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        sink = _Sink(conn)
        notify("企业与关系", 0, 1)
        _write_parties(sink, world, data)
        sink.flush()
        notify("企业与关系", 1, 1)
        facts = _write_trade(sink, world, months, end, seed, notify)
        notify("订单", 0, 1)
        _write_orders(sink, world, data, months, end, seed)
        notify("订单", 1, 1)
        notify("融资记录", 0, 1)
        _write_financing(sink, world, data, months, end, seed)
        notify("融资记录", 1, 1)
        notify("风险事件", 0, 1)
        _write_risks(sink, world, data, facts, months, end, seed)
        notify("风险事件", 1, 1)
        meta_rows = {
            "as_of": as_of.isoformat(),
            "seed": str(seed),
            "scale": str(scale),
            "planted": json.dumps(planted, ensure_ascii=False, sort_keys=True),
            "generator_version": GENERATOR_VERSION,
        }
        conn.execute(schema.meta.delete().where(schema.meta.c.key.in_(list(meta_rows))))
        for key, value in meta_rows.items():
            sink.add("meta", {"key": key, "value": value})
        sink.flush()
    return SeedReport(
        counts=dict(sink.counts),
        as_of=as_of,
        planted=planted,
        seconds=round(time.perf_counter() - started, 3),
    )
