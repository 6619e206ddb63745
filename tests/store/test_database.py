"""The database contract: the same behaviour on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, insert, select, text

from finassist.errors import AccessDenied, DatabaseUnavailable, SchemaVersionError
from finassist.store import Database
from finassist.store.schema import enterprises, financing, is_managed_table, metadata


def _enterprise(eid: str, **extra: object) -> dict[str, object]:
    row = {
        "id": eid,
        "name": f"测试企业{eid}有限公司",
        "short_name": f"测试{eid}",
        "aliases": "[]",
        "uscc": f"91110000{eid:0>9}X"[:18],
        "role": "supplier",
        "industry": "汽车零部件",
        "region": "上海",
        "rating": "AA",
        "registered_capital": Decimal("12345678.91"),
        "established": date(2010, 5, 6),
    }
    row.update(extra)
    return row


def test_migrations_create_exactly_the_declared_schema(backend_url: str) -> None:
    db = Database(backend_url)
    db.migrate()
    assert db.current_revision() == db.head_revision()
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={"include_name": lambda name, kind, _p: kind != "table" or is_managed_table(name)},
        )
        diff = compare_metadata(context, metadata)
    # Only differences alembic cannot judge across dialects (none expected) would show here.
    assert [
        d for d in diff if d[0] in ("add_table", "remove_table", "add_column", "remove_column")
    ] == []
    db.dispose()


def test_money_is_exact_and_chinese_text_round_trips(backend_url: str) -> None:
    db = Database(backend_url)
    db.migrate()
    amounts = [Decimal("0.10"), Decimal("0.20"), Decimal("12345678901.99")]
    with db.write() as conn:
        for i, amount in enumerate(amounts):
            conn.execute(
                insert(enterprises).values(_enterprise(f"E{i}", registered_capital=amount))
            )
    with db.read() as conn:
        total = conn.execute(select(func.sum(enterprises.c.registered_capital))).scalar_one()
        names = conn.execute(select(enterprises.c.name).order_by(enterprises.c.id)).scalars().all()
    assert total == Decimal("12345678902.29")
    assert names[0] == "测试企业E0有限公司"
    db.dispose()


def test_read_connection_refuses_writes(backend_url: str) -> None:
    db = Database(backend_url)
    db.migrate()
    with pytest.raises(AccessDenied, match="只读连接"), db.read() as conn:
        conn.execute(insert(enterprises).values(_enterprise("E9")))
        conn.commit()
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(enterprises)).scalar_one() == 0
    db.dispose()


def test_failed_transaction_leaves_nothing(backend_url: str) -> None:
    db = Database(backend_url)
    db.migrate()
    with pytest.raises(RuntimeError), db.write() as conn:
        conn.execute(insert(enterprises).values(_enterprise("E1")))
        raise RuntimeError("boom")
    assert db.table_counts()["enterprises"] == 0
    db.dispose()


def test_rates_keep_two_decimals(backend_url: str) -> None:
    db = Database(backend_url)
    db.migrate()
    with db.write() as conn:
        conn.execute(insert(enterprises).values(_enterprise("E1")))
        conn.execute(
            insert(financing).values(
                id="F1",
                product="reverse_factoring",
                applicant_id="E1",
                core_id=None,
                bank="测试银行",
                amount=Decimal("1000000"),
                rate=Decimal("4.35"),
                start_date=date(2026, 1, 1),
                end_date=date(2026, 7, 1),
                status="active",
            )
        )
    with db.read() as conn:
        assert conn.execute(select(financing.c.rate)).scalar_one() == Decimal("4.35")
    db.dispose()


def test_empty_database_asks_for_init(tmp_path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    with db.write() as conn:
        conn.execute(text("select 1"))
    with pytest.raises(SchemaVersionError, match="finassist db init"):
        db.check_schema()


def test_schema_at_another_version_is_refused(tmp_path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    db.migrate()
    with db.write() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    with pytest.raises(SchemaVersionError, match="0000"):
        db.check_schema()


def test_server_down_is_a_clear_error() -> None:
    db = Database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    with pytest.raises(DatabaseUnavailable, match="无法连接数据库"):
        db.table_counts()


def test_pooled_sqlite_connections_see_other_writers_and_writers_take_turns(tmp_path) -> None:
    import threading

    from finassist.store.schema import managers

    url = f"sqlite:///{tmp_path / 'pool.db'}"
    first, second = Database(url), Database(url)
    first.migrate()
    with second.read() as conn:  # a connection now pooled, opened before the writes below
        assert conn.execute(select(func.count()).select_from(managers)).scalar_one() == 0

    def write(n: int) -> None:
        with first.write() as conn:
            conn.execute(
                insert(managers).values(id=f"M{n:03d}", name="经理", role="manager", branch="总行")
            )

    threads = [threading.Thread(target=write, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with second.read() as conn:
        assert conn.execute(select(func.count()).select_from(managers)).scalar_one() == 16
    first.dispose()
    second.dispose()
