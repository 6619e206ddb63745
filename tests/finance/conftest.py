"""A small, exact fixture for the finance tests: every expected figure can be worked out by hand.

``finance_db`` builds it in the (empty) database named by the session-scoped ``db_url`` fixture.
tests/conftest.py may define ``db_url`` (e.g. parametrised over SQLite, PostgreSQL and MariaDB);
when it does not, the default here is a temporary SQLite file, or the URL in
``FINASSIST_TEST_FINANCE_DB_URL``. The tests only read the data, so one copy per URL serves all.

The cast (as of 2026-10-31; the 12-month window is 2025-11-01..2026-10-31):
  C1 华东汽车 (core), C2 南粤电子 (core)
  S1 恒泰精密 (supplier, M001): cash-stressed, early payment asked in 6 months, an overdue invoice
  S2 远航汽配 (supplier, M001): 180-day terms, large receivables from C1
  S3 德丰模具 (supplier, M002): on the execution list, one abnormal invoice
  D1 锦程汽贸 (distributor, M001): a huge open order placed with its core C1
  D2 立铭商贸 (distributor, M001): an open order with C2, which it has no relationship with
"""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from finassist.finance.base import Caller, ToolContext
from finassist.store import Database, schema

AS_OF = date(2026, 10, 31)
FINANCE_DB_URL_ENV = "FINASSIST_TEST_FINANCE_DB_URL"


def inv(n: int) -> str:
    """The 20-digit invoice number of fixture invoice ``n``."""
    return f"26312000000000{n:06d}"


def _table(text: str) -> list[dict[str, str | None]]:
    """Rows of a whitespace-separated table; the first line names the columns, ``-`` is None."""
    lines = [line.split() for line in text.strip().splitlines()]
    return [
        {key: (None if cell == "-" else cell) for key, cell in zip(lines[0], line, strict=True)}
        for line in lines[1:]
    ]


def _aliases(value: str | None) -> list[str]:
    return value.split("|") if value else []


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _money(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


ENTERPRISES = _table("""
id  name                          short_name  aliases                 role         industry  rating
C1  华东汽车集团股份有限公司      华东汽车    HDQC|华东汽车工业总公司 core         汽车制造  AAA
C2  南粤电子设备集团股份有限公司  南粤电子    NYDZ                    core         电子设备  AAA
S1  苏州恒泰精密机械有限公司      恒泰精密    恒泰机械                supplier     精密机械  BBB-
S2  宁波远航汽车零部件有限公司    远航汽配    宁波远航                supplier     汽车零部件 A
S3  昆山德丰模具有限公司          德丰模具    -                       supplier     模具制造  BB
D1  杭州锦程汽车销售服务有限公司  锦程汽贸    锦程汽车                distributor  汽车销售  BBB+
D2  北京立铭商贸有限公司          立铭商贸    -                       distributor  商贸      BBB
""")
RELATIONSHIPS = _table("""
id  core_id  counterparty_id  kind         payment_terms_days  since
1   C1       S1               supplier     90                  2023-05-01
2   C2       S1               supplier     90                  2024-02-01
3   C1       S2               supplier     180                 2024-01-01
4   C1       S3               supplier     60                  2022-01-01
5   C1       D1               distributor  30                  2025-01-01
""")
INVOICES = _table("""
n   seller_id  buyer_id  amount   tax     issue_date  due_date    status   paid_date   paid_amount
1   S1         C1        100000   13000   2026-01-10  2026-04-10  paid     2026-02-09  113000
2   S1         C1        200000   26000   2026-03-01  2026-05-30  paid     2026-05-30  226000
3   S1         C2        50000    6500    2026-04-01  2026-06-30  paid     2026-07-10  56500
4   S1         C1        300000   39000   2026-07-01  2026-09-29  unpaid   -           0
5   S1         C2        400000   52000   2026-09-01  2026-11-30  partial  2026-10-20  100000
6   S1         C1        10000    1300    2024-06-01  2024-09-01  paid     2024-09-01  11300
7   S1         C1        999999   0       2026-08-01  2026-10-30  void     -           0
8   C2         S1        20000    2600    2026-02-01  2026-03-01  paid     2026-03-01  22600
9   C2         S1        30000    3900    2026-09-15  2026-10-15  unpaid   -           0
10  S2         C1        1000000  130000  2026-06-01  2026-11-28  unpaid   -           0
11  S2         C1        800000   104000  2026-08-01  2027-01-28  unpaid   -           0
12  S3         C1        10000    1300    2026-02-01  2026-04-01  paid     2026-04-01  11300
13  S3         C1        12000    1560    2026-03-01  2026-05-01  paid     2026-05-01  13560
14  S3         C1        11000    1430    2026-04-01  2026-06-01  paid     2026-06-01  12430
15  S3         C1        9000     1170    2026-05-01  2026-07-01  paid     2026-07-01  10170
16  S3         C1        500000   65000   2026-06-01  2026-08-01  unpaid   -           0
17  D1         D2        100000   13000   2026-06-01  2026-07-01  paid     2026-07-01  113000
""")
PAYMENTS = _table("""
id  n   payer_id  payee_id  amount  paid_date   kind
P1  1   C1        S1        113000  2026-02-09  early
P2  2   C1        S1        226000  2026-05-30  regular
P3  3   C2        S1        56500   2026-07-10  regular
P4  5   C2        S1        100000  2026-10-20  regular
P5  6   C1        S1        11300   2024-09-01  regular
P6  8   S1        C2        22600   2026-03-01  regular
P7  17  D2        D1        113000  2026-07-01  regular
""")
ORDERS = _table("""
order_no  buyer_id  seller_id  amount   prepaid_amount  order_date  delivery_date  status
O1        D1        C1         8000000  0               2026-10-01  2027-01-15     open
O2        D1        C1         500000   500000          2026-03-01  2026-05-01     delivered
O3        D2        C2         2000000  200000          2026-09-01  2026-12-01     open
O4        C1        S1         300000   0               2026-10-10  2026-12-10     open
""")
FINANCING = _table("""
id   product            applicant_id  core_id  amount  rate  start_date  end_date    status
F1   early_payment      S1            C1       100000  4.20  2025-12-05  2026-01-20  repaid
F2   early_payment      S1            C1       120000  4.20  2026-01-15  2026-03-01  repaid
F3   early_payment      S1            C2       80000   4.50  2026-01-20  2026-03-05  repaid
F4   early_payment      S1            C1       150000  4.20  2026-03-03  2026-04-20  rejected
F5   early_payment      S1            C1       160000  4.10  2026-05-08  2026-06-30  repaid
F6   early_payment      S1            C2       90000   4.50  2026-07-09  2026-08-30  repaid
F7   early_payment      S1            C1       200000  4.10  2026-09-10  2026-11-10  active
F8   early_payment      S1            C1       70000   4.30  2025-10-15  2025-11-30  repaid
F9   reverse_factoring  S1            C1       500000  4.35  2026-02-01  2026-12-01  active
F10  reverse_factoring  S3            C1       300000  5.20  2026-04-01  2026-09-28  overdue
""")
RISK_EVENTS = _table("""
id  enterprise_id  kind              title         amount  event_date  severity  status  n
R1  S3             execution         被列为被执行人  650000  2026-08-20  high      open    -
R2  S3             litigation        买卖合同纠纷    120000  2025-06-01  medium    closed  -
R3  S3             abnormal_invoice  发票金额异常    500000  2026-06-05  medium    open    16
""")
MANAGERS = [("M001", "张伟", "manager"), ("M002", "李娜", "manager"), ("A001", "王强", "admin")]
CLIENTS = {"M001": ["C1", "S1", "S2", "D1", "D2"], "M002": ["C2", "S3"]}
DATES = {
    "since",
    "issue_date",
    "due_date",
    "paid_date",
    "order_date",
    "delivery_date",
    "start_date",
    "end_date",
    "event_date",
}
MONEY = {"amount", "tax", "paid_amount", "prepaid_amount", "rate"}


def _typed(row: dict[str, str | None]) -> dict[str, object]:
    """Table cells as the schema's Python types."""
    out: dict[str, object] = {}
    for key, value in row.items():
        if key in DATES:
            out[key] = _day(value)
        elif key in MONEY:
            out[key] = _money(value)
        elif key in ("id", "payment_terms_days") and value is not None and value.isdigit():
            out[key] = int(value)
        else:
            out[key] = value
    return out


def populate(db: Database) -> None:
    """Insert the fixture rows into a migrated, empty database."""
    with db.write() as conn:
        conn.execute(
            schema.enterprises.insert(),
            [
                {
                    **row,
                    "aliases": json.dumps(_aliases(row["aliases"]), ensure_ascii=False),
                    "uscc": f"91310000TEST{n:05d}X",
                    "region": "上海市",
                    "registered_capital": Decimal("10000000"),
                    "established": date(2010, 1, 1),
                }
                for n, row in enumerate(ENTERPRISES)
            ],
        )
        conn.execute(schema.relationships.insert(), [_typed(r) for r in RELATIONSHIPS])
        invoices = [_typed(r) for r in INVOICES]
        for row in invoices:
            row["invoice_no"] = inv(int(str(row.pop("n"))))
        conn.execute(schema.invoices.insert(), invoices)
        payments = [_typed(r) for r in PAYMENTS]
        for row in payments:
            row["invoice_no"] = inv(int(str(row.pop("n"))))
        conn.execute(schema.payments.insert(), payments)
        conn.execute(schema.orders.insert(), [_typed(r) for r in ORDERS])
        conn.execute(
            schema.financing.insert(), [{**_typed(r), "bank": "示例银行"} for r in FINANCING]
        )
        events = [_typed(r) for r in RISK_EVENTS]
        for row in events:
            n = row.pop("n")
            row |= {
                "detail": row["title"],
                "source": "示例来源",
                "invoice_no": inv(int(str(n))) if n else None,
            }
        conn.execute(schema.risk_events.insert(), events)
        conn.execute(
            schema.managers.insert(),
            [
                {"id": m, "name": name, "role": role, "branch": "上海分行"}
                for m, name, role in MANAGERS
            ],
        )
        conn.execute(
            schema.manager_clients.insert(),
            [{"manager_id": m, "enterprise_id": e} for m, ids in CLIENTS.items() for e in ids],
        )
        conn.execute(schema.meta.insert(), [{"key": "as_of", "value": AS_OF.isoformat()}])


def _parent_conftest_defines(name: str) -> bool:
    """True when tests/conftest.py defines a top-level function ``name`` (a fixture there)."""
    parent = Path(__file__).resolve().parents[1] / "conftest.py"
    if not parent.is_file():
        return False
    tree = ast.parse(parent.read_text(encoding="utf-8"))
    return any(isinstance(node, ast.FunctionDef) and node.name == name for node in tree.body)


if not _parent_conftest_defines("db_url"):
    # A fixture defined here would shadow the top-level one, so define the default only when
    # tests/conftest.py has none. ``FINASSIST_TEST_FINANCE_DB_URL`` points it at a server.

    @pytest.fixture(scope="session")
    def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
        """Where ``finance_db`` is built: a temporary SQLite file unless the variable is set."""
        return os.environ.get(FINANCE_DB_URL_ENV) or (
            f"sqlite:///{tmp_path_factory.mktemp('finance') / 'finance.db'}"
        )


@pytest.fixture(scope="session")
def finance_db(db_url: str) -> Iterator[Database]:
    """The fixture database, migrated and filled once per ``db_url`` (session-scoped; the tests
    only read it)."""
    db = Database(db_url)
    db.migrate()
    populate(db)
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def make_ctx(finance_db: Database) -> Callable[..., ToolContext]:
    """``make_ctx("M001")`` -> a ToolContext for that caller on the fixture, as of 2026-10-31."""

    def make(manager_id: str = "M001", *, is_admin: bool = False) -> ToolContext:
        return ToolContext(finance_db, Caller(manager_id, is_admin), AS_OF)

    return make
