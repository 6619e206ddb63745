"""Writing rows: the chunked :class:`Sink` every stage adds to, and the cast's own rows.

Rows are plain dicts, buffered per table and inserted CHUNK_ROWS at a time, so that a million
invoices are never all held in memory and each ``executemany`` is large enough to be fast.
:func:`write_parties` writes the first stage: enterprises, relationships, managers and who
sees whom.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from finassist.store import schema
from finassist.store.seed.cast import World

CHUNK_ROWS = 10_000

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``, called as the stages of seeding advance."""


class Sink:
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
        """Buffer one row of ``table``; a full buffer flushes every table."""
        self.rows[table].append(row)
        if len(self.rows[table]) >= CHUNK_ROWS:
            self.flush()

    def flush(self) -> None:
        """Insert every buffered row, tables in ORDER, and count them."""
        for name in self.ORDER:
            rows = self.rows[name]
            if rows:
                self.conn.execute(schema.metadata.tables[name].insert(), rows)
                self.counts[name] += len(rows)
                rows.clear()


def yuan(fen: int) -> Decimal:
    """Money is computed in integer fen and stored as yuan with two decimals."""
    return Decimal(fen) / 100


def write_parties(sink: Sink, world: World, data: dict[str, Any]) -> None:
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
