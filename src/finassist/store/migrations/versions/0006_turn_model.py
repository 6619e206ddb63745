"""Model versions: which model answered each turn.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("turns", sa.Column("model", sa.String(128), nullable=True))
    op.create_index("ix_turns_model", "turns", ["model", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_turns_model", table_name="turns")
    op.drop_column("turns", "model")
