"""Server: API keys (stored hashed) and answer ratings (stored with the turn).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("manager_id", ID, sa.ForeignKey("managers.id"), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("salt", sa.String(32), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=False)),
    )
    op.create_index("ix_api_keys_manager", "api_keys", ["manager_id"])
    op.create_table(
        "ratings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "turn_id", sa.Integer, sa.ForeignKey("turns.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("manager_id", ID, nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=False), nullable=False),
        sa.UniqueConstraint("turn_id", name="uq_rating_turn"),
    )


def downgrade() -> None:
    op.drop_table("ratings")
    op.drop_index("ix_api_keys_manager", table_name="api_keys")
    op.drop_table("api_keys")
