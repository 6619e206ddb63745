"""Knowledge base: documents, chunks, the portable BM25 index and, on SQLite, FTS5.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# FTS5 over pre-tokenised text: jieba tokens joined by spaces, so unicode61 only has to split
# on the spaces. Not a SQLAlchemy Table, so it stays out of the metadata comparison.
CREATE_FTS = (
    "CREATE VIRTUAL TABLE kb_fts USING fts5(tokens, tokenize = 'unicode61 remove_diacritics 0')"
)
# Document frequencies of the FTS5 terms: queries drop words that half the corpus contains.
CREATE_FTS_VOCAB = "CREATE VIRTUAL TABLE kb_fts_vocab USING fts5vocab(kb_fts, 'row')"


def upgrade() -> None:
    op.create_table(
        "kb_documents",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source", sa.String(1024), nullable=False),
        sa.Column("url", sa.String(1024)),
        sa.Column("doc_date", sa.Date),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("n_chunks", sa.Integer, nullable=False),
        sa.Column("n_chars", sa.Integer, nullable=False),
        sa.Column("embedder", sa.String(255)),
        sa.Column("created_at", sa.DateTime(timezone=False), nullable=False),
    )
    op.create_index("ix_kb_documents_kind_date", "kb_documents", ["kind", "doc_date"])
    op.create_table(
        "kb_chunks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(96), nullable=False, unique=True),
        sa.Column(
            "doc_id",
            sa.String(64),
            sa.ForeignKey("kb_documents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("ord", sa.Integer, nullable=False),
        sa.Column("heading", sa.String(255), nullable=False),
        sa.Column("locator", sa.String(128), nullable=False),
        sa.Column("page", sa.Integer),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("n_tokens", sa.Integer, nullable=False),
        sa.Column("embedding", sa.LargeBinary),
    )
    op.create_index("ix_kb_chunks_doc", "kb_chunks", ["doc_id", "ord"])
    op.create_table(
        "kb_terms",
        sa.Column("term", sa.String(64), primary_key=True),
        sa.Column("df", sa.Integer, nullable=False),
    )
    op.create_table(
        "kb_postings",
        sa.Column("term", sa.String(64), primary_key=True),
        sa.Column(
            "chunk_id",
            sa.Integer,
            sa.ForeignKey("kb_chunks.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("tf", sa.Integer, nullable=False),
        sa.Column("dl", sa.Integer, nullable=False),
    )
    op.create_index("ix_kb_postings_chunk", "kb_postings", ["chunk_id"])
    op.create_table(
        "kb_stats",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute(CREATE_FTS)
        op.execute(CREATE_FTS_VOCAB)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS kb_fts_vocab")
        op.execute("DROP TABLE IF EXISTS kb_fts")
    op.drop_table("kb_stats")
    op.drop_index("ix_kb_postings_chunk", table_name="kb_postings")
    op.drop_table("kb_postings")
    op.drop_table("kb_terms")
    op.drop_index("ix_kb_chunks_doc", table_name="kb_chunks")
    op.drop_table("kb_chunks")
    op.drop_index("ix_kb_documents_kind_date", table_name="kb_documents")
    op.drop_table("kb_documents")
