"""Fixtures for the knowledge base: a migrated empty database and a small sample KB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from finassist.kb import KnowledgeBase
from finassist.kb.sample import load_sample
from finassist.store import Database

# A small subset of the sample: two manuals, the glossary, the 保理 chapter's code and 款项支付条例.
SMALL_SAMPLE = (
    "manual-reverse_factoring",
    "manual-early_payment",
    "glossary",
    "law-d049",
    "law-d082",
    "law-d061",
)


@pytest.fixture
def empty_db(tmp_path: Path) -> Iterator[Database]:
    (tmp_path / "db").mkdir()  # not beside the files the tests ingest from tmp_path
    db = Database(f"sqlite:///{tmp_path / 'db' / 'kb.db'}")
    db.migrate()
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def small_kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    """The small sample subset on SQLite (FTS5), loaded once for the read-only tests."""
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('kb') / 'kb.db'}")
    db.migrate()
    kb = KnowledgeBase(db)
    load_sample(kb, ids=SMALL_SAMPLE)
    yield kb
    db.dispose()
