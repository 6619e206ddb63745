"""Covering indexes for the analytics of large enterprises (a core has ~100k invoices a year).

The finance tools aggregate in SQL; with these indexes the aggregates read only index entries,
never table rows. ``*_issued`` serve windows by issue date (concentration, invoiced totals,
abnormal invoices); ``*_state`` serve invoices by status (open ones by due date, paid ones by
paid date: outstanding, overdue, DSO); the order indexes serve open orders. They replace the
narrower indexes of 0001 on the same parties, which no query needs any more.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_STATE = ["status", "paid_date", "due_date", "issue_date", "amount", "tax", "paid_amount"]
NEW = (
    ("ix_invoices_seller_issued", "invoices", ["seller_id", "issue_date", "status", "buyer_id", "amount", "tax"]),
    ("ix_invoices_buyer_issued", "invoices", ["buyer_id", "issue_date", "status", "seller_id", "amount", "tax"]),
    ("ix_invoices_seller_state", "invoices", ["seller_id", *_STATE]),
    ("ix_invoices_buyer_state", "invoices", ["buyer_id", *_STATE]),
    ("ix_orders_buyer_state", "orders", ["buyer_id", "status", "order_date", "seller_id", "amount", "prepaid_amount"]),
    ("ix_orders_seller_state", "orders", ["seller_id", "status", "order_date", "buyer_id", "amount", "prepaid_amount"]),
)  # fmt: skip
OLD = (
    ("ix_invoices_seller_date", "invoices", ["seller_id", "issue_date", "amount"]),
    ("ix_invoices_buyer_date", "invoices", ["buyer_id", "issue_date", "amount"]),
    ("ix_invoices_seller_status", "invoices", ["seller_id", "status", "due_date"]),
    ("ix_invoices_buyer_status", "invoices", ["buyer_id", "status", "due_date"]),
    ("ix_orders_buyer_date", "orders", ["buyer_id", "order_date"]),
    ("ix_orders_seller_date", "orders", ["seller_id", "order_date"]),
)


def upgrade() -> None:
    # Create before dropping: MySQL refuses to drop the last index that starts with a foreign
    # key column (seller_id, buyer_id).
    for name, table, columns in NEW:
        op.create_index(name, table, columns)
    for name, table, _ in OLD:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, table, columns in OLD:
        op.create_index(name, table, columns)
    for name, table, _ in NEW:
        op.drop_index(name, table_name=table)
