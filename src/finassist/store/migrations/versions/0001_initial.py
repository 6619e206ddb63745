"""Initial schema: enterprises, trade data, financing, risk, managers, sessions.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from finassist.store.schema import Money, Rate

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(32)


def _fk(column: str, target: str, **kw: object) -> sa.Column:
    return sa.Column(column, ID, sa.ForeignKey(target), **kw)


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "enterprises",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("short_name", sa.String(64), nullable=False),
        sa.Column("aliases", sa.Text, nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("industry", sa.String(64), nullable=False),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("rating", sa.String(8), nullable=False),
        sa.Column("registered_capital", Money, nullable=False),
        sa.Column("established", sa.Date, nullable=False),
    )
    op.create_table(
        "relationships",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _fk("core_id", "enterprises.id", nullable=False),
        _fk("counterparty_id", "enterprises.id", nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payment_terms_days", sa.Integer, nullable=False),
        sa.Column("since", sa.Date, nullable=False),
        sa.UniqueConstraint("core_id", "counterparty_id", name="uq_relationship_pair"),
    )
    op.create_index("ix_relationships_counterparty", "relationships", ["counterparty_id"])
    op.create_table(
        "invoices",
        sa.Column("invoice_no", sa.String(20), primary_key=True),
        _fk("seller_id", "enterprises.id", nullable=False),
        _fk("buyer_id", "enterprises.id", nullable=False),
        sa.Column("amount", Money, nullable=False),
        sa.Column("tax", Money, nullable=False),
        sa.Column("issue_date", sa.Date, nullable=False),
        sa.Column("due_date", sa.Date, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("paid_date", sa.Date),
        sa.Column("paid_amount", Money, nullable=False),
    )
    op.create_index("ix_invoices_seller_date", "invoices", ["seller_id", "issue_date", "amount"])
    op.create_index("ix_invoices_buyer_date", "invoices", ["buyer_id", "issue_date", "amount"])
    op.create_index("ix_invoices_seller_status", "invoices", ["seller_id", "status", "due_date"])
    op.create_index("ix_invoices_buyer_status", "invoices", ["buyer_id", "status", "due_date"])
    op.create_table(
        "payments",
        sa.Column("id", ID, primary_key=True),
        sa.Column(
            "invoice_no", sa.String(20), sa.ForeignKey("invoices.invoice_no"), nullable=False
        ),
        _fk("payer_id", "enterprises.id", nullable=False),
        _fk("payee_id", "enterprises.id", nullable=False),
        sa.Column("amount", Money, nullable=False),
        sa.Column("paid_date", sa.Date, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
    )
    op.create_index("ix_payments_payee_date", "payments", ["payee_id", "paid_date", "amount"])
    op.create_index("ix_payments_payer_date", "payments", ["payer_id", "paid_date", "amount"])
    op.create_index("ix_payments_invoice", "payments", ["invoice_no"])
    op.create_table(
        "orders",
        sa.Column("order_no", sa.String(24), primary_key=True),
        _fk("buyer_id", "enterprises.id", nullable=False),
        _fk("seller_id", "enterprises.id", nullable=False),
        sa.Column("amount", Money, nullable=False),
        sa.Column("order_date", sa.Date, nullable=False),
        sa.Column("delivery_date", sa.Date, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("prepaid_amount", Money, nullable=False),
    )
    op.create_index("ix_orders_buyer_date", "orders", ["buyer_id", "order_date"])
    op.create_index("ix_orders_seller_date", "orders", ["seller_id", "order_date"])
    op.create_table(
        "financing",
        sa.Column("id", ID, primary_key=True),
        sa.Column("product", sa.String(32), nullable=False),
        _fk("applicant_id", "enterprises.id", nullable=False),
        _fk("core_id", "enterprises.id"),
        sa.Column("bank", sa.String(64), nullable=False),
        sa.Column("amount", Money, nullable=False),
        sa.Column("rate", Rate, nullable=False),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("end_date", sa.Date, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
    )
    op.create_index("ix_financing_applicant", "financing", ["applicant_id", "start_date"])
    op.create_table(
        "risk_events",
        sa.Column("id", ID, primary_key=True),
        _fk("enterprise_id", "enterprises.id", nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("amount", Money),
        sa.Column("event_date", sa.Date, nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("invoice_no", sa.String(20)),
    )
    op.create_index("ix_risk_events_enterprise", "risk_events", ["enterprise_id", "event_date"])
    op.create_table(
        "managers",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("branch", sa.String(64), nullable=False),
    )
    op.create_table(
        "manager_clients",
        _fk("manager_id", "managers.id", primary_key=True),
        _fk("enterprise_id", "enterprises.id", primary_key=True),
    )
    op.create_index("ix_manager_clients_enterprise", "manager_clients", ["enterprise_id"])
    op.create_table(
        "sessions",
        sa.Column("id", ID, primary_key=True),
        sa.Column("manager_id", ID, nullable=False),
        sa.Column("title", sa.String(128), nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_sessions_manager", "sessions", ["manager_id", "updated_at"])
    op.create_table(
        "turns",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "session_id", ID, sa.ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("user_text", sa.Text, nullable=False),
        sa.Column("reply_text", sa.Text, nullable=False),
        sa.Column("intent", sa.String(32), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("session_id", "seq", name="uq_turn_seq"),
    )


def downgrade() -> None:
    for table in (
        "turns",
        "sessions",
        "manager_clients",
        "managers",
        "risk_events",
        "financing",
        "orders",
        "payments",
        "invoices",
        "relationships",
        "enterprises",
        "meta",
    ):
        op.drop_table(table)
