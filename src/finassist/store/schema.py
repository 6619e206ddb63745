"""The relational schema, one SQLAlchemy Core ``MetaData`` for SQLite, PostgreSQL and MySQL.

Money is stored as integer fen (``BIGINT``) so that sums are exact on every backend, and read
back as ``Decimal`` yuan; rates as integer basis points, read back as ``Decimal`` percent.
Changes to this file need a migration in ``store/migrations/versions``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

FEN_PER_YUAN = 100
BP_PER_PERCENT = 100


class Money(TypeDecorator[Decimal]):
    """Decimal yuan in Python, integer fen in the database (exact sums everywhere)."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> int | None:
        if value is None:
            return None
        return int((Decimal(value) * FEN_PER_YUAN).to_integral_value())

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        return (Decimal(int(value)) / FEN_PER_YUAN).quantize(Decimal("0.01"))


class Rate(TypeDecorator[Decimal]):
    """Decimal percent in Python (4.35 means 4.35 %), integer basis points in the database."""

    impl = Integer
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> int | None:
        if value is None:
            return None
        return int((Decimal(value) * BP_PER_PERCENT).to_integral_value())

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        return (Decimal(int(value)) / BP_PER_PERCENT).quantize(Decimal("0.01"))


metadata = MetaData()

ID = String(32)

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

enterprises = Table(
    "enterprises",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("short_name", String(64), nullable=False),
    Column("aliases", Text, nullable=False, default="[]"),  # JSON list of other names
    Column("uscc", String(18), nullable=False, unique=True),
    Column("role", String(16), nullable=False),  # core | supplier | distributor
    Column("industry", String(64), nullable=False),
    Column("region", String(64), nullable=False),
    Column("rating", String(8), nullable=False),
    Column("registered_capital", Money, nullable=False),
    Column("established", Date, nullable=False),
)

relationships = Table(
    "relationships",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("core_id", ID, ForeignKey("enterprises.id"), nullable=False),
    Column("counterparty_id", ID, ForeignKey("enterprises.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # supplier | distributor
    Column("payment_terms_days", Integer, nullable=False),
    Column("since", Date, nullable=False),
    UniqueConstraint("core_id", "counterparty_id", name="uq_relationship_pair"),
    Index("ix_relationships_counterparty", "counterparty_id"),
)

invoices = Table(
    "invoices",
    metadata,
    Column("invoice_no", String(20), primary_key=True),
    Column("seller_id", ID, ForeignKey("enterprises.id"), nullable=False),
    Column("buyer_id", ID, ForeignKey("enterprises.id"), nullable=False),
    Column("amount", Money, nullable=False),  # excluding tax
    Column("tax", Money, nullable=False),
    Column("issue_date", Date, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("status", String(16), nullable=False),  # unpaid | partial | paid | void
    Column("paid_date", Date),
    Column("paid_amount", Money, nullable=False, default=Decimal("0")),
    # Covering indexes (migration 0002): the analytics aggregate from index entries alone.
    # *_issued: windows by issue date; *_state: open invoices by due date, paid ones by date.
    Index("ix_invoices_seller_issued", "seller_id", "issue_date", "status", "buyer_id", "amount", "tax"),
    Index("ix_invoices_buyer_issued", "buyer_id", "issue_date", "status", "seller_id", "amount", "tax"),
    Index("ix_invoices_seller_state", "seller_id", "status", "paid_date", "due_date", "issue_date", "amount", "tax", "paid_amount"),
    Index("ix_invoices_buyer_state", "buyer_id", "status", "paid_date", "due_date", "issue_date", "amount", "tax", "paid_amount"),
)  # fmt: skip

payments = Table(
    "payments",
    metadata,
    Column("id", ID, primary_key=True),
    Column("invoice_no", String(20), ForeignKey("invoices.invoice_no"), nullable=False),
    Column("payer_id", ID, ForeignKey("enterprises.id"), nullable=False),
    Column("payee_id", ID, ForeignKey("enterprises.id"), nullable=False),
    Column("amount", Money, nullable=False),
    Column("paid_date", Date, nullable=False),
    Column("kind", String(16), nullable=False),  # regular | early | financing
    Index("ix_payments_payee_date", "payee_id", "paid_date", "amount"),
    Index("ix_payments_payer_date", "payer_id", "paid_date", "amount"),
    Index("ix_payments_invoice", "invoice_no"),
)

orders = Table(
    "orders",
    metadata,
    Column("order_no", String(24), primary_key=True),
    Column("buyer_id", ID, ForeignKey("enterprises.id"), nullable=False),
    Column("seller_id", ID, ForeignKey("enterprises.id"), nullable=False),
    Column("amount", Money, nullable=False),
    Column("order_date", Date, nullable=False),
    Column("delivery_date", Date, nullable=False),
    Column("status", String(16), nullable=False),  # open | delivered | cancelled
    Column("prepaid_amount", Money, nullable=False, default=Decimal("0")),
    # Covering indexes (migration 0002) for open orders and their amounts to fund.
    Index("ix_orders_buyer_state", "buyer_id", "status", "order_date", "seller_id", "amount", "prepaid_amount"),
    Index("ix_orders_seller_state", "seller_id", "status", "order_date", "buyer_id", "amount", "prepaid_amount"),
)  # fmt: skip

financing = Table(
    "financing",
    metadata,
    Column("id", ID, primary_key=True),
    Column("product", String(32), nullable=False),  # a product code from the catalogue
    Column("applicant_id", ID, ForeignKey("enterprises.id"), nullable=False),
    Column("core_id", ID, ForeignKey("enterprises.id")),
    Column("bank", String(64), nullable=False),
    Column("amount", Money, nullable=False),
    Column("rate", Rate, nullable=False),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date, nullable=False),
    # applied | approved | active | repaid | overdue | rejected
    Column("status", String(16), nullable=False),
    Index("ix_financing_applicant", "applicant_id", "start_date"),
)

risk_events = Table(
    "risk_events",
    metadata,
    Column("id", ID, primary_key=True),
    Column("enterprise_id", ID, ForeignKey("enterprises.id"), nullable=False),
    # litigation | execution | abnormal_invoice | tax_violation | admin_penalty
    Column("kind", String(32), nullable=False),
    Column("title", String(255), nullable=False),
    Column("detail", Text, nullable=False),
    Column("amount", Money),
    Column("event_date", Date, nullable=False),
    Column("severity", String(8), nullable=False),  # high | medium | low
    Column("status", String(16), nullable=False),  # open | closed
    Column("source", String(64), nullable=False),
    Column("invoice_no", String(20)),
    Index("ix_risk_events_enterprise", "enterprise_id", "event_date"),
)

managers = Table(
    "managers",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(32), nullable=False),
    Column("role", String(16), nullable=False),  # manager | admin
    Column("branch", String(64), nullable=False),
)

manager_clients = Table(
    "manager_clients",
    metadata,
    Column("manager_id", ID, ForeignKey("managers.id"), primary_key=True),
    Column("enterprise_id", ID, ForeignKey("enterprises.id"), primary_key=True),
    Index("ix_manager_clients_enterprise", "enterprise_id"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("manager_id", ID, nullable=False),
    Column("title", String(128), nullable=False, default=""),
    Column("state", Text, nullable=False, default="{}"),  # JSON: slots and memory
    Column("created_at", DateTime(timezone=False), nullable=False),
    Column("updated_at", DateTime(timezone=False), nullable=False),
    Index("ix_sessions_manager", "manager_id", "updated_at"),
)

turns = Table(
    "turns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", ID, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("user_text", Text, nullable=False),
    Column("reply_text", Text, nullable=False),
    Column("intent", String(32), nullable=False),
    Column(
        "payload", Text, nullable=False, default="{}"
    ),  # JSON: entities, evidence, recommendation
    Column("created_at", DateTime(timezone=False), nullable=False),
    # The model or version that answered (issue 7: per-version serving figures, A/B tests);
    # NULL when the offline engine answered without a model.
    Column("model", String(128), nullable=True),
    UniqueConstraint("session_id", "seq", name="uq_turn_seq"),
    Index("ix_turns_model", "model", "created_at"),
)

# -- knowledge base (issue 3) ------------------------------------------------------------------
# Documents and their chunks. ``kb_terms`` / ``kb_postings`` are the portable inverted index
# (PostgreSQL, MySQL); on SQLite the BM25 index is an FTS5 virtual table ``kb_fts`` created by
# migration 0003 only (virtual tables are not SQLAlchemy Tables).

kb_documents = Table(
    "kb_documents",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("title", String(255), nullable=False),
    Column("kind", String(16), nullable=False),  # product | policy | news | report | faq
    Column("source", String(1024), nullable=False),  # file path, URL or sample:<name>
    Column("url", String(1024)),
    Column("doc_date", Date),
    Column("sha256", String(64), nullable=False),
    Column("n_chunks", Integer, nullable=False, default=0),
    Column("n_chars", Integer, nullable=False, default=0),
    Column("embedder", String(255)),  # name of the model that embedded its chunks, if any
    Column("created_at", DateTime(timezone=False), nullable=False),
    Index("ix_kb_documents_kind_date", "kind", "doc_date"),
)

kb_chunks = Table(
    "kb_chunks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(96), nullable=False, unique=True),  # "<doc_id>:<ord>", stable
    Column("doc_id", String(64), ForeignKey("kb_documents.id", ondelete="CASCADE"), nullable=False),
    Column("ord", Integer, nullable=False),
    Column("heading", String(255), nullable=False, default=""),
    Column("locator", String(128), nullable=False, default=""),  # 第X条 | 第N页 | heading
    Column("page", Integer),
    Column("text", Text, nullable=False),
    Column("n_tokens", Integer, nullable=False),
    Column("embedding", LargeBinary),  # float32 vector, when an embedder is configured
    Index("ix_kb_chunks_doc", "doc_id", "ord"),
)

kb_terms = Table(
    "kb_terms",
    metadata,
    Column("term", String(64), primary_key=True),
    Column("df", Integer, nullable=False),
)

kb_postings = Table(
    "kb_postings",
    metadata,
    Column("term", String(64), primary_key=True),
    Column("chunk_id", Integer, ForeignKey("kb_chunks.id", ondelete="CASCADE"), primary_key=True),
    Column("tf", Integer, nullable=False),
    Column("dl", Integer, nullable=False),  # chunk length in tokens, denormalised for scoring
    Index("ix_kb_postings_chunk", "chunk_id"),
)

kb_stats = Table(
    "kb_stats",
    metadata,
    Column("name", String(32), primary_key=True),  # n_chunks | n_tokens | writes
    Column("value", BigInteger, nullable=False),
)

# -- server (issue 5) --------------------------------------------------------------------------

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(16), primary_key=True),  # public part of the key, shown by `keys list`
    Column("manager_id", ID, ForeignKey("managers.id"), nullable=False),
    Column("role", String(16), nullable=False),  # manager | admin
    Column("label", String(64), nullable=False, default=""),
    Column("salt", String(32), nullable=False),  # hex
    Column("secret_hash", String(64), nullable=False),  # hex sha256(salt + secret)
    Column("created_at", DateTime(timezone=False), nullable=False),
    Column("revoked_at", DateTime(timezone=False)),
    Index("ix_api_keys_manager", "manager_id"),
)

# A retried request with the same ``Idempotency-Key`` gets the stored response (issue 15).
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("api_key_id", String(16), primary_key=True),  # keys are scoped to the API key
    Column("key_hash", String(64), primary_key=True),  # hex sha256 of the header's value
    Column("fingerprint", String(64), nullable=False),  # hex sha256 of the request
    Column("response", Text),  # JSON body and headers; NULL while the request is in progress
    Column("created_at", DateTime(timezone=False), nullable=False),
    Index("ix_idempotency_keys_created", "created_at"),
)

ratings = Table(
    "ratings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("turn_id", Integer, ForeignKey("turns.id", ondelete="CASCADE"), nullable=False),
    Column("manager_id", ID, nullable=False),
    Column("score", Integer, nullable=False),  # 1..5
    Column("comment", Text, nullable=False, default=""),
    Column("created_at", DateTime(timezone=False), nullable=False),
    Column("updated_at", DateTime(timezone=False), nullable=False),
    UniqueConstraint("turn_id", name="uq_rating_turn"),
)

# -- model layer (issue 4) -------------------------------------------------------------------------

llm_cache = Table(
    "llm_cache",
    metadata,
    # sha256 of model, messages, tools and evidence (see finassist.llm.cache)
    Column("key", String(64), primary_key=True),
    Column("model", String(128), nullable=False),
    Column("response", Text, nullable=False),  # JSON: ChatResponse.to_json()
    Column("created_at", DateTime(timezone=False), nullable=False),
    Column("expires_at", DateTime(timezone=False), nullable=False),
    Index("ix_llm_cache_expires", "expires_at"),
)

# SQLite FTS5 index of the knowledge base and its shadow tables (kb_fts_data, kb_fts_idx, ...),
# created by migration 0003, and PostgreSQL's tsvector table kb_tsv (migration 0008): made with
# raw SQL on one engine only, so they are not in ``metadata``.
UNMANAGED_TABLE_PREFIXES = ("kb_fts", "kb_tsv")


def is_managed_table(name: str | None) -> bool:
    """False for tables a migration creates outside SQLAlchemy (FTS5); for schema comparison."""
    return not (name or "").startswith(UNMANAGED_TABLE_PREFIXES)
