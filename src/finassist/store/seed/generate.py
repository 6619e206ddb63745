"""The entry point, :func:`seed_database`: the stages in order, in one transaction.

The stages run in the order of the foreign keys: the cast (enterprises, relationships,
managers), trade (invoices, payments), then orders, financing and risk events, and last the
``meta`` rows that record how the data was made. Each stage reports to ``progress``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select

from finassist.errors import InvalidInput
from finassist.store import Database, schema
from finassist.store.seed.cast import World, build_world, load_data, month_calendar
from finassist.store.seed.events import write_financing, write_orders, write_risks
from finassist.store.seed.trade import write_trade
from finassist.store.seed.writer import Progress, Sink, write_parties

DEFAULT_AS_OF = date(2026, 10, 31)
GENERATOR_VERSION = "1"
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
"""The patterns planted in the data; the ``planted`` manifest maps each to an enterprise id."""


@dataclass(frozen=True)
class SeedReport:
    """What :func:`seed_database` wrote: rows per table, the data's "today", planted ids, time."""

    counts: dict[str, int]
    as_of: date
    planted: dict[str, str]
    seconds: float


def _planted_manifest(world: World) -> dict[str, str]:
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
    data = load_data()
    months = month_calendar(as_of)
    end = as_of.toordinal()
    world = build_world(data, seed=seed, scale=scale, as_of=as_of)
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
        sink = Sink(conn)
        notify("企业与关系", 0, 1)
        write_parties(sink, world, data)
        sink.flush()
        notify("企业与关系", 1, 1)
        facts = write_trade(sink, world, months, end, seed, notify)
        notify("订单", 0, 1)
        write_orders(sink, world, data, months, end, seed)
        notify("订单", 1, 1)
        notify("融资记录", 0, 1)
        write_financing(sink, world, data, months, end, seed)
        notify("融资记录", 1, 1)
        notify("风险事件", 0, 1)
        write_risks(sink, world, data, facts, months, end, seed)
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
