"""Knowledge base on PostgreSQL: a tsvector of each chunk's tokens with a GIN index.

Revision ID: 0008
Revises: 0007

PostgreSQL only (``kb_tsv``, see finassist.kb.pg); SQLite keeps FTS5 and MySQL the portable
tables, so elsewhere this migration changes nothing. Chunks already indexed in the portable
tables (what PostgreSQL used before) are copied over: each word with as many positions as its
count, so BM25 scores them as before.
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

CREATE = """
CREATE TABLE kb_tsv (
    chunk_id integer PRIMARY KEY REFERENCES kb_chunks (id) ON DELETE CASCADE,
    dl integer NOT NULL,
    tsv tsvector NOT NULL
)
"""
# 'term':1,2,...,tf per posting; quotes doubled and backslashes escaped as tsvector input wants.
BACKFILL = r"""
INSERT INTO kb_tsv (chunk_id, dl, tsv)
SELECT p.chunk_id, max(p.dl), CAST(string_agg(
    '''' || replace(replace(p.term, '\', '\\'), '''', '''''') || ''':'
        || array_to_string(ARRAY(SELECT generate_series(1, least(p.tf, 256))), ','),
    ' ') AS tsvector)
FROM kb_postings p
GROUP BY p.chunk_id
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(CREATE)
    op.execute(BACKFILL)
    op.execute("CREATE INDEX ix_kb_tsv_gin ON kb_tsv USING gin (tsv)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE kb_tsv")
