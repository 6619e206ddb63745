"""The sample-data generator: deterministic, valid, and every planted pattern is unmistakable.

The pattern checks are plain SQL over the seeded database, the way the analytics will see it:
each planted company must cross its threshold and no other company may.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select, text

from finassist.errors import InvalidInput
from finassist.store import Database, schema
from finassist.store.seed import (
    DEFAULT_AS_OF,
    PLANTED_KEYS,
    is_valid_uscc,
    seed_database,
    uscc_check_digit,
)

AS_OF = DEFAULT_AS_OF
YEAR_AGO = (AS_OF - timedelta(days=365)).isoformat()
TODAY = AS_OF.isoformat()
TABLES = {
    "enterprises": "id",
    "relationships": "id",
    "invoices": "invoice_no",
    "payments": "id",
    "orders": "order_no",
    "financing": "id",
    "risk_events": "id",
    "managers": "id",
    "manager_clients": "manager_id, enterprise_id",
    "meta": "key",
}


def _fresh(path: Path) -> Database:
    db = Database(f"sqlite:///{path}")
    db.migrate()
    return db


def _rows(db: Database, sql: str, **params: Any) -> list[Any]:
    """Raw rows: money comes back as integer fen, dates as ISO strings."""
    with db.read() as conn:
        return list(conn.execute(text(sql), params).all())


def _dump(db: Database, table: str) -> list[Any]:
    """Typed rows (Decimal money, dates), comparable across backends."""
    columns = schema.metadata.tables[table]
    order = [columns.c[name.strip()] for name in TABLES[table].split(",")]
    with db.read() as conn:
        return list(conn.execute(select(columns).order_by(*order)).all())


def _fixed_names() -> set[str]:
    """Names of the cores and planted companies, straight from the data file."""
    data = yaml.safe_load(
        (resources.files("finassist.store") / "data" / "seed.yaml").read_text(encoding="utf-8")
    )
    return {spec["name"] for spec in data["cores"] + data["planted"]}


@pytest.fixture
def db(sample_db: Database) -> Database:
    """The shared sample data (seed 42, scale 1, default as_of), read only."""
    return sample_db


@pytest.fixture
def planted(sample_db: Database) -> dict[str, str]:
    return json.loads(sample_db.get_meta("planted") or "{}")


# -- shape, meta, determinism ------------------------------------------------------------------


def test_same_arguments_give_identical_rows_and_a_true_report(db: Database, tmp_path: Path) -> None:
    again = _fresh(tmp_path / "again.db")
    report = seed_database(again)
    for table in TABLES:
        assert _dump(again, table) == _dump(db, table), table
    assert report.as_of == AS_OF
    assert set(report.planted) == set(PLANTED_KEYS)
    assert 15_000 <= report.counts["invoices"] <= 30_000
    counts = again.table_counts()
    assert {table: counts[table] for table in TABLES} == report.counts
    meta = dict(_rows(again, "SELECT key, value FROM meta"))
    assert meta["as_of"] == TODAY
    assert (meta["seed"], meta["scale"]) == ("42", "1")
    assert json.loads(meta["planted"]) == report.planted
    assert meta["generator_version"]
    assert again.data_as_of() == AS_OF


def test_every_backend_gets_the_same_rows(backend_url: str, db: Database) -> None:
    other = Database(backend_url)
    try:
        other.migrate()
        seed_database(other)
        for table in ("enterprises", "invoices", "payments", "financing", "risk_events"):
            assert _dump(other, table) == _dump(db, table), table
    finally:
        other.dispose()


def test_history_covers_24_months_ending_at_as_of(db: Database) -> None:
    first, last = _rows(db, "SELECT min(issue_date), max(issue_date) FROM invoices")[0]
    assert first.startswith("2024-11") and last <= TODAY and last.startswith("2026-10")


def test_another_seed_gives_other_trade_but_the_same_planted_cast(
    db: Database, planted: dict[str, str], tmp_path: Path
) -> None:
    other = _fresh(tmp_path / "other.db")
    report = seed_database(other, seed=7)
    assert _dump(other, "invoices") != _dump(db, "invoices")
    assert report.planted == planted
    names = "SELECT id, name, short_name FROM enterprises WHERE id IN ({})".format(
        ",".join(f"'{eid}'" for eid in planted.values())
    )
    assert sorted(_rows(other, names)) == sorted(_rows(db, names))


def test_seeding_twice_is_refused_and_changes_nothing(db: Database) -> None:
    before = db.table_counts()
    with pytest.raises(InvalidInput, match="数据库中已有数据"):
        seed_database(db, seed=1)
    assert db.table_counts() == before


def test_a_failure_midway_leaves_the_database_empty(tmp_path: Path) -> None:
    db = _fresh(tmp_path / "f.db")

    def fail_after_invoices(stage: str, done: int, total: int) -> None:
        if stage == "订单":
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        seed_database(db, progress=fail_after_invoices)
    assert set(db.table_counts().values()) == {0}
    assert seed_database(db).counts["invoices"] > 0


def test_scale_below_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        seed_database(_fresh(tmp_path / "s.db"), scale=0)


def test_progress_is_reported(tmp_path: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    seed_database(_fresh(tmp_path / "p.db"), progress=lambda *args: seen.append(args))
    stages = {stage for stage, _, _ in seen}
    assert {"发票与付款", "订单", "融资记录", "风险事件"} <= stages
    assert all(0 <= done <= total for _, done, total in seen)


@pytest.mark.slow
def test_scale_multiplies_fillers_not_planted(db: Database, tmp_path: Path) -> None:
    big = _fresh(tmp_path / "big.db")
    report = seed_database(big, scale=3)
    fixed = _fixed_names()

    def filler_invoices(database: Database) -> int:
        sellers = {eid for eid, name in _rows(database, "SELECT id, name FROM enterprises")}
        fillers = sellers - {
            eid
            for eid, name in _rows(database, "SELECT id, name FROM enterprises")
            if name in fixed
        }
        counts = dict(_rows(database, "SELECT seller_id, count(*) FROM invoices GROUP BY 1"))
        return sum(counts.get(eid, 0) for eid in fillers)

    def filler_count(database: Database) -> int:
        names = [name for (name,) in _rows(database, "SELECT name FROM enterprises")]
        return sum(name not in fixed for name in names)

    assert filler_count(big) == 3 * filler_count(db)
    assert 2.5 <= filler_invoices(big) / filler_invoices(db) <= 3.5
    assert set(report.planted) == set(PLANTED_KEYS)


# -- validity ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    ["91350100M000100Y43", "91110000100006485K", "914403001922038216", "91310000132149237G"],
)
def test_known_usccs_are_valid(code: str) -> None:
    assert is_valid_uscc(code)
    assert uscc_check_digit(code[:17]) == code[17]


@pytest.mark.parametrize(
    "code", ["91350100M000100Y44", "91350100M000100Y4", "91350100M000100I43", "9135010OM000100Y43"]
)
def test_broken_usccs_are_invalid(code: str) -> None:
    assert not is_valid_uscc(code)


def test_every_uscc_is_valid_and_unique(db: Database) -> None:
    codes = [code for (code,) in _rows(db, "SELECT uscc FROM enterprises")]
    assert all(is_valid_uscc(code) for code in codes)
    assert len(set(codes)) == len(codes)


def test_enterprises_have_unique_names_and_short_names(db: Database) -> None:
    rows = _rows(db, "SELECT name, short_name, aliases, role FROM enterprises")
    assert len({r.name for r in rows}) == len({r.short_name for r in rows}) == len(rows)
    assert all(isinstance(json.loads(r.aliases), list) for r in rows)
    roles = defaultdict(int)
    for r in rows:
        roles[r.role] += 1
    assert roles["core"] >= 4 and roles["supplier"] >= 40 and roles["distributor"] >= 16


def test_invoice_numbers_are_20_digits_unique_and_dated(db: Database) -> None:
    rows = _rows(db, "SELECT invoice_no, issue_date FROM invoices")
    assert all(len(no) == 20 and no.isdigit() and no[:2] == day[2:4] for no, day in rows)
    assert len({no for no, _ in rows}) == len(rows)


def test_payments_add_up_to_paid_amount(db: Database) -> None:
    rows = _rows(
        db,
        "SELECT i.status, i.amount + i.tax, i.paid_amount, i.paid_date, "
        "coalesce(sum(p.amount), 0), count(p.id), max(p.paid_date) "
        "FROM invoices i LEFT JOIN payments p ON p.invoice_no = i.invoice_no "
        "GROUP BY i.invoice_no",
    )
    for status, total, paid, paid_date, summed, payments, last in rows:
        assert summed == paid
        if status == "paid":
            assert paid == total and paid_date == last
        elif status == "partial":
            assert 0 < paid < total
        else:
            assert payments == 0 and paid == 0 and paid_date is None
    assert {r[0] for r in rows} == {"paid", "partial", "unpaid", "void"}
    bad = _rows(
        db,
        "SELECT count(*) FROM payments p JOIN invoices i ON i.invoice_no = p.invoice_no "
        "WHERE p.payer_id != i.buyer_id OR p.payee_id != i.seller_id OR p.paid_date > :today "
        "OR p.kind NOT IN ('regular', 'early', 'financing')",
        today=TODAY,
    )
    assert bad[0][0] == 0


def test_financing_uses_catalogue_codes_and_sane_rates(db: Database) -> None:
    products = {p for (p,) in _rows(db, "SELECT DISTINCT product FROM financing")}
    assert products <= {
        "reverse_factoring",
        "early_payment",
        "order_financing",
        "purchase_financing",
        "distribution_financing",
    }
    low, high = _rows(db, "SELECT min(rate), max(rate) FROM financing")[0]
    assert low >= 385 and high <= 650  # basis points


# -- planted patterns ----------------------------------------------------------------------------


def test_cash_stress_asks_for_early_payment_every_month(
    db: Database, planted: dict[str, str]
) -> None:
    months = dict(
        _rows(
            db,
            "SELECT applicant_id, count(DISTINCT substr(start_date, 1, 7)) FROM financing "
            "WHERE product = 'early_payment' AND start_date > :since GROUP BY 1",
            since=YEAR_AGO,
        )
    )
    assert months.pop(planted["cash_stress"]) == 12
    assert max(months.values(), default=0) <= 3
    shares = dict(
        _rows(
            db,
            "SELECT payee_id, avg(kind = 'early') FROM payments WHERE paid_date > :since "
            "GROUP BY 1",
            since=YEAR_AGO,
        )
    )
    assert shares.pop(planted["cash_stress"]) > 0.7
    assert max(shares.values()) < 0.3


def test_long_terms_has_half_a_year_of_receivables_outstanding(
    db: Database, planted: dict[str, str]
) -> None:
    terms = _rows(
        db,
        "SELECT payment_terms_days FROM relationships WHERE core_id = :core AND "
        "counterparty_id = :supplier",
        core=planted["core_main"],
        supplier=planted["long_terms"],
    )
    assert terms == [(180,)]
    # Receivables not yet due, in months of sales to that core.
    rows = _rows(
        db,
        "SELECT i.seller_id, i.buyer_id, "
        "sum(CASE WHEN i.status IN ('unpaid', 'partial') AND i.due_date >= :today "
        "    THEN i.amount + i.tax - i.paid_amount ELSE 0 END), "
        "sum(CASE WHEN i.issue_date > :since AND i.status != 'void' "
        "    THEN i.amount + i.tax ELSE 0 END) / 12.0 "
        "FROM invoices i JOIN relationships r "
        "  ON r.core_id = i.buyer_id AND r.counterparty_id = i.seller_id "
        "WHERE r.kind = 'supplier' GROUP BY 1, 2",
        today=TODAY,
        since=YEAR_AGO,
    )
    months = {(s, b): outstanding / monthly for s, b, outstanding, monthly in rows if monthly}
    key = (planted["long_terms"], planted["core_main"])
    outstanding = {(s, b): o for s, b, o, _ in rows}[key]
    assert outstanding > 10_000_000 * 100
    assert months.pop(key) > 5
    assert max(months.values()) < 4.5


def test_overdue_supplier_is_owed_long_past_due(db: Database, planted: dict[str, str]) -> None:
    late = _rows(
        db,
        "SELECT seller_id, buyer_id, julianday(:today) - julianday(due_date) FROM invoices "
        "WHERE status IN ('unpaid', 'partial') AND due_date < date(:today, '-30 days')",
        today=TODAY,
    )
    mine = [days for seller, buyer, days in late if seller == planted["overdue"]]
    assert len(mine) >= 3
    assert all(30 < days <= 120 for days in mine)
    assert {buyer for seller, buyer, _ in late if seller == planted["overdue"]} == {
        planted["core_main"]
    }
    assert {seller for seller, _, _ in late} == {planted["overdue"]}


def test_concentration_sells_almost_only_to_one_customer(
    db: Database, planted: dict[str, str]
) -> None:
    sales: dict[str, list[int]] = defaultdict(list)
    for seller, _, amount in _rows(
        db,
        "SELECT seller_id, buyer_id, sum(amount) FROM invoices "
        "WHERE issue_date > :since AND status != 'void' GROUP BY 1, 2",
        since=YEAR_AGO,
    ):
        sales[seller].append(amount)
    top1 = {seller: max(a) / sum(a) for seller, a in sales.items()}
    top5 = {seller: sum(sorted(a)[-5:]) / sum(a) for seller, a in sales.items()}
    assert top1.pop(planted["concentration"]) > 0.85
    assert top5[planted["concentration"]] == 1
    assert max(top1.values()) < 0.7


def test_large_order_dwarfs_the_distributors_income(db: Database, planted: dict[str, str]) -> None:
    rows = _rows(
        db,
        "SELECT o.buyer_id, sum(o.amount - o.prepaid_amount), "
        "  (SELECT coalesce(sum(p.amount), 0) / 12.0 FROM payments p "
        "   WHERE p.payee_id = o.buyer_id AND p.paid_date > :since) "
        "FROM orders o WHERE o.status = 'open' GROUP BY 1",
        since=YEAR_AGO,
    )
    ratio = {buyer: need / inflow for buyer, need, inflow in rows if inflow}
    assert {buyer for buyer, _, inflow in rows if not inflow} == set()
    assert ratio.pop(planted["large_order"]) > 10
    assert max(ratio.values()) < 3
    order = _rows(
        db,
        "SELECT seller_id, amount, prepaid_amount FROM orders WHERE buyer_id = :buyer "
        "AND status = 'open' ORDER BY amount DESC LIMIT 1",
        buyer=planted["large_order"],
    )
    assert order == [(planted["core_main"], 8_000_000 * 100, 0)]


def test_abnormal_invoices_are_outsized_and_flagged(db: Database, planted: dict[str, str]) -> None:
    amounts: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for seller, invoice_no, amount in _rows(
        db, "SELECT seller_id, invoice_no, amount FROM invoices"
    ):
        amounts[seller].append((amount, invoice_no))
    outsized = {
        seller: {no for amount, no in rows if amount > 10 * statistics.median(a for a, _ in rows)}
        for seller, rows in amounts.items()
    }
    flagged = outsized.pop(planted["abnormal_invoice"])
    assert 2 <= len(flagged) <= 3
    assert not any(outsized.values())
    events = _rows(
        db,
        "SELECT enterprise_id, invoice_no, source FROM risk_events WHERE kind = 'abnormal_invoice'",
    )
    assert {(e, no) for e, no, _ in events} == {(planted["abnormal_invoice"], no) for no in flagged}
    assert {source for _, _, source in events} == {"发票风险监测"}


def test_risk_events_quote_the_invoice_dates_of_the_invoices_table(db: Database) -> None:
    events = _rows(
        db,
        "SELECT r.detail, i.issue_date FROM risk_events r "
        "JOIN invoices i ON i.invoice_no = r.invoice_no",
    )
    assert events
    for detail, issued in events:
        assert f"开票日期{issued}" in detail, detail


def test_execution_is_on_the_execution_list(db: Database, planted: dict[str, str]) -> None:
    events = _rows(
        db, "SELECT enterprise_id, kind, severity, status, amount, source FROM risk_events"
    )
    executions = [e for e in events if e.kind == "execution"]
    assert [(e.enterprise_id, e.severity, e.status) for e in executions] == [
        (planted["execution"], "high", "open")
    ]
    assert executions[0].amount > 0 and executions[0].source == "全国法院被执行人信息查询"
    assert any(e.enterprise_id == planted["execution"] and e.kind == "litigation" for e in events)


def test_healthy_is_paid_on_time_and_has_no_risk(db: Database, planted: dict[str, str]) -> None:
    healthy = planted["healthy"]
    assert _rows(db, "SELECT count(*) FROM risk_events WHERE enterprise_id = :e", e=healthy) == [
        (0,)
    ]
    rows = _rows(
        db,
        "SELECT status, due_date, paid_date FROM invoices WHERE seller_id = :e",
        e=healthy,
    )
    assert len(rows) > 200
    for status, due, paid in rows:
        assert status in ("paid", "unpaid")
        assert (paid is not None and paid <= due) if status == "paid" else due >= TODAY


def test_ambiguous_short_name_matches_two_companies_of_m001(
    db: Database, planted: dict[str, str]
) -> None:
    matches = _rows(
        db,
        "SELECT e.id, e.short_name, m.manager_id FROM enterprises e "
        "JOIN manager_clients m ON m.enterprise_id = e.id "
        "WHERE e.name LIKE '%华信%' OR e.short_name LIKE '%华信%' OR e.aliases LIKE '%华信%'",
    )
    assert len({eid for eid, _, _ in matches}) == 2
    assert {m for _, _, m in matches} == {"M001"}
    assert planted["ambiguous"] in {eid for eid, _, _ in matches}
    assert all(short.startswith("华信") for _, short, _ in matches)


def test_managers_see_their_portfolios_only(db: Database, planted: dict[str, str]) -> None:
    managers = dict(_rows(db, "SELECT id, role FROM managers"))
    assert managers == {
        "M001": "manager",
        "M002": "manager",
        "M003": "manager",
        "M004": "manager",
        "A001": "admin",
    }
    clients: dict[str, set[str]] = defaultdict(set)
    for manager, enterprise in _rows(db, "SELECT manager_id, enterprise_id FROM manager_clients"):
        clients[manager].add(enterprise)
    everyone = {eid for (eid,) in _rows(db, "SELECT id FROM enterprises")}
    assert set().union(*clients.values()) == everyone
    m001 = {key for key, eid in planted.items() if eid in clients["M001"]}
    assert m001 == set(PLANTED_KEYS) - {"abnormal_invoice", "other_manager_core"}
    assert planted["abnormal_invoice"] in clients["M002"]
    assert planted["other_manager_core"] in clients["M003"]
    cores = {eid for (eid,) in _rows(db, "SELECT id FROM enterprises WHERE role = 'core'")}
    assert cores - clients["M001"]
    for manager in ("M001", "M002", "M003", "M004"):
        assert len(clients[manager] & cores) >= 1 and len(clients[manager]) >= 10


def test_relationships_link_counterparties_to_cores(db: Database) -> None:
    rows = _rows(
        db,
        "SELECT r.kind, r.payment_terms_days, c.role, x.role FROM relationships r "
        "JOIN enterprises c ON c.id = r.core_id JOIN enterprises x ON x.id = r.counterparty_id",
    )
    assert all(core == "core" and kind == other for kind, _, core, other in rows)
    assert {days for _, days, _, _ in rows} <= {30, 45, 60, 90, 120, 180}
    linked = {eid for (eid,) in _rows(db, "SELECT counterparty_id FROM relationships")}
    others = {eid for (eid,) in _rows(db, "SELECT id FROM enterprises WHERE role != 'core'")}
    assert others == linked


def test_as_of_moves_the_whole_history(tmp_path: Path) -> None:
    db = _fresh(tmp_path / "early.db")
    report = seed_database(db, as_of=date(2025, 6, 15))
    first, last = _rows(db, "SELECT min(issue_date), max(issue_date) FROM invoices")[0]
    assert first.startswith("2023-07") and "2025-06-01" <= last <= "2025-06-15"
    assert db.data_as_of() == report.as_of
