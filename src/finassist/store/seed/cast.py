"""The cast of the sample data: companies, their names and codes, and who trades with whom.

Everything here is plain Python, no database: :func:`build_world` turns the yaml data into a
:class:`World` of companies (cores, planted, fillers) and the edges between them, and
:func:`month_calendar` lays out the months of history. The later stages (trade, events) only
read the world; every draw comes from a :func:`stream` of its own, so adding a draw to one
stage never shifts another's data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from importlib import resources
from typing import Any

import yaml

from finassist.store.uscc import USCC_CHARSET, org_code_check_digit, uscc_check_digit

HISTORY_MONTHS = 24


@dataclass(frozen=True)
class Region:
    """A place companies register in: its city, codes, and the court that hears its cases."""

    name: str
    city: str
    division: str  # 6-digit administrative division code (USCC)
    invoice: str  # 2-digit province code (invoice numbers)
    court: str
    case: str


@dataclass(eq=False)
class Company:
    """One enterprise of the sample data, with the numbers that drive its trade."""

    id: str
    key: str | None  # yaml key of a core or planted company; None for fillers
    name: str
    short_name: str
    aliases: list[str]
    uscc: str
    role: str
    industry: str
    region: Region
    rating: str
    capital: int  # yuan
    established: date
    chain: str
    manager: str
    sales: float  # monthly sales, fen, excluding tax
    ticket: float  # typical invoice amount, fen
    tax: int  # VAT percent
    home: Company | None = None  # the main core of a supplier or distributor


@dataclass(eq=False)
class Edge:
    """Who sells to whom, how much a month, on what terms, and how the buyer pays."""

    seller: Company
    buyer: Company
    kind: str  # supplier | distributor (a relationship) | trade (none)
    volume: float  # fen a month, excluding tax
    terms: int
    behaviour: str
    since: date | None = None
    abnormal: int = 0  # how many outsized invoices to plant


@dataclass
class World:
    """All companies and edges; ``chain_pool`` lists the fillers of each industry chain."""

    companies: list[Company]
    edges: list[Edge]
    by_key: dict[str, Company]
    chain_pool: dict[str, list[Company]] = field(default_factory=dict)


@dataclass(frozen=True)
class Month:
    """One calendar month of history, as date ordinals, with its volume factor."""

    first: int  # date ordinals
    last: int
    yy: int
    factor: float  # seasonality x growth x the share of the month before as_of


def stream(seed: int, *labels: object) -> random.Random:
    """An independent stream per purpose, so that one part's draws never shift another's."""
    return random.Random("/".join(str(part) for part in (seed, *labels)))


def load_data() -> dict[str, Any]:
    """The cast, names, places and texts of ``data/seed.yaml`` and ``data/seed_names.yaml``."""
    folder = resources.files("finassist.store") / "data"
    data: dict[str, Any] = {}
    for name in ("seed.yaml", "seed_names.yaml"):
        data.update(yaml.safe_load((folder / name).read_text(encoding="utf-8")))
    return data


def _weighted(rng: random.Random, items: list[dict[str, Any]], value: str) -> Any:
    return rng.choices(items, weights=[item["weight"] for item in items])[0][value]


# Chinese New Year dents February; firms close the books with a December push.
_SEASON = {1: 0.95, 2: 0.75, 3: 1.0, 6: 1.05, 9: 1.05, 11: 1.05, 12: 1.15}


def month_calendar(as_of: date) -> list[Month]:
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
        months.append(Month(first.toordinal(), last.toordinal(), first.year % 100, factor))
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
        self, rng: random.Random, industry: dict[str, Any], region: Region
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

    def uscc(self, rng: random.Random, region: Region, established: date) -> str:
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


def build_world(data: dict[str, Any], *, seed: int, scale: int, as_of: date) -> World:
    """Every company (cores, planted, then fillers, ids in that order) and who trades with whom."""
    regions = {spec["name"]: Region(**spec) for spec in data["regions"]}
    chains = data["chains"]
    fixed = data["cores"] + data["planted"]
    filler_count = sum(
        (core["fillers"]["suppliers"] + core["fillers"]["distributors"]) * scale
        for core in data["cores"]
    )
    width = max(4, len(str(len(fixed) + filler_count)))
    namer = _Namer(data, fixed)
    rng = stream(seed, "companies")
    companies: list[Company] = []

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
            Company(
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
    history_start = date.fromordinal(month_calendar(as_of)[0].first)
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
    world = World(companies, [], by_key)
    for company in companies:
        if company.key is None:
            world.chain_pool.setdefault(company.chain, []).append(company)
    _link(world, data, stream(seed, "edges"), history_start)
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
    regions: dict[str, Region],
    data: dict[str, Any],
    history_start: date,
) -> Company:
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
    return Company(
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


def _link(world: World, data: dict[str, Any], rng: random.Random, history_start: date) -> None:
    """The edges: supplier->core, core->distributor, cores' projects and trade among fillers."""
    by_key = world.by_key
    cores = [by_key[spec["key"]] for spec in data["cores"]]
    core_specs = {spec["key"]: spec for spec in data["cores"]}
    planted = {spec["key"]: spec for spec in data["planted"]}

    def since(company: Company) -> date:
        high = history_start.toordinal() - 60
        low = min(max(company.established, date(2012, 1, 1)).toordinal(), high)
        return date.fromordinal(rng.randint(low, high))

    def trade(seller: Company, share: float, behaviour: str) -> None:
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
                Edge(seller, customer, "trade", volume, rng.choice(_TRADE_TERMS), behaviour)
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
                    edge = Edge(company, core, "supplier", volume, link["terms"], link["behaviour"])
                    edge.abnormal = spec.get("abnormal_invoices", 0)
                else:
                    volume = float(spec["purchases"]) * 100
                    edge = Edge(
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
                edge = Edge(company, home, "supplier", company.sales * first, terms, "normal")
                edge.since = since(company)
                world.edges.append(edge)
                if second:
                    other = rng.choice([c for c in cores if c is not home])
                    terms = rng.choices(*_SUPPLIER_TERMS)[0]
                    edge = Edge(company, other, "supplier", company.sales * second, terms, "normal")
                    edge.since = since(company)
                    world.edges.append(edge)
                trade(company, 1 - first - second, "normal")
            else:
                purchases = company.sales * rng.uniform(0.85, 0.92)
                terms = rng.choices(*_DISTRIBUTOR_TERMS)[0]
                edge = Edge(home, company, "distributor", purchases, terms, "normal")
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
                world.edges.append(Edge(core, by_key[key], "trade", volume, 60, "normal"))
    # Invoices are written seller by seller, which keeps the seller indexes' inserts local.
    position = {c.id: i for i, c in enumerate(world.companies)}
    world.edges.sort(key=lambda e: (position[e.seller.id], position[e.buyer.id]))
