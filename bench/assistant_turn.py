"""Offline assistant turn latency, beside the raw SQL the same turns need.

For each scale it seeds a fresh SQLite database, plays a scripted multi-turn conversation that
covers every scenario, and records every SQL statement each turn sends. The baseline replays
exactly those statements (the reads) through a bare ``sqlite3`` connection in the same process:
the ratio of the two is the assistant's own overhead (parsing, resolution, composing, the guard,
persisting the turn).

    python bench/assistant_turn.py                 # scale 1 only (about 25k invoices)
    python bench/assistant_turn.py --scales 1,45   # and about 1M invoices (minutes to seed)
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event

from finassist.assistant import Assistant
from finassist.store import Database
from finassist.store.seed import seed_database

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


# Query-layer turns (issue 14): screens over the manager's whole book, top-N, calendar periods
# and follow-ups, reported on their own line beside the raw SQL they send.
QUERY_CONVERSATION = (
    "我名下哪些供应商的应收账款超过500万",
    "只看逾期的",
    "开票金额前十的企业",
    "今年以来订单金额最多的前三家经销商",
    "我的客户里谁的融资余额最高",
    "华东汽车9月份金额最大的三张发票是哪几张",
    "华东汽车9月份的开票金额是多少",
    "那今年以来呢",
    "按月拆开看看",
    "他们三季度的收支情况",
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


def bench_scale(scale: int, rounds: int, workdir: Path) -> list[dict[str, Any]]:
    path = workdir / f"scale{scale}.db"
    db = Database(f"sqlite:///{path}")
    db.migrate()
    started = time.perf_counter()
    report = seed_database(db, scale=scale)
    seed_seconds = time.perf_counter() - started
    log = StatementLog(db)
    assistant = Assistant(db)
    assistant.ask("你好", manager_id="M001")  # warm caches: directory, templates, tool registry

    rows = []
    for kind, conversation in (("templated", CONVERSATION), ("query", QUERY_CONVERSATION)):
        rows.append(
            {
                "scale": scale,
                "kind": kind,
                "invoices": report.counts.get("invoices", 0),
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
    sql_times: list[float] = []
    statements_per_turn: list[int] = []
    for _ in range(rounds):
        session = None
        for message in conversation:
            log.statements.clear()
            log.active = True
            start = time.perf_counter()
            reply = assistant.ask(message, manager_id="M001", session_id=session)
            turn_times.append(time.perf_counter() - start)
            log.active = False
            session = reply.session_id
            statements = list(log.statements)
            statements_per_turn.append(len(statements))
            sql_times.append(min(replay(path, statements) for _ in range(3)))
    return {
        "turns": len(turn_times),
        "turn_p50_ms": 1000 * statistics.median(turn_times),
        "turn_p95_ms": 1000 * percentile(turn_times, 0.95),
        "sql_p50_ms": 1000 * statistics.median(sql_times),
        "sql_p95_ms": 1000 * percentile(sql_times, 0.95),
        "statements_p50": statistics.median(statements_per_turn),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1", help="comma-separated seed scales, e.g. 1,45")
    parser.add_argument("--rounds", type=int, default=5, help="times the conversation is played")
    args = parser.parse_args()
    scales = [int(s) for s in args.scales.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        rows = [r for scale in scales for r in bench_scale(scale, args.rounds, Path(tmp))]
    header = (
        f"{'scale':>5} {'turns of':>9} {'invoices':>10} {'seed s':>7} {'turns':>5} {'turn p50':>9} "
        f"{'turn p95':>9} {'raw SQL p50':>11} {'raw SQL p95':>11} {'overhead p50':>12} {'SQL/turn':>8}"
    )
    print("finassist offline turn vs raw SQL of the same turn (SQLite, ms)")
    print(header)
    for r in rows:
        print(
            f"{r['scale']:>5} {r['kind']:>9} {r['invoices']:>10,} {r['seed_s']:>7.1f} {r['turns']:>5} "
            f"{r['turn_p50_ms']:>9.1f} {r['turn_p95_ms']:>9.1f} {r['sql_p50_ms']:>11.1f} "
            f"{r['sql_p95_ms']:>11.1f} {r['turn_p50_ms'] / max(r['sql_p50_ms'], 1e-6):>11.1f}x "
            f"{r['statements_p50']:>8.0f}"
        )


if __name__ == "__main__":
    main()
