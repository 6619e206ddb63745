"""Deterministic sample data: enterprises, 24 months of trade, financing, risk events, managers.

``seed_database(db)`` fills a migrated, empty database with the history of four core
enterprises, the planted companies of ``data/seed.yaml`` (each shows one pattern the assistant
must find; their ids are in the report's and the ``meta`` table's ``planted`` manifest, keys
:data:`PLANTED_KEYS`) and generated filler suppliers and distributors. The same ``seed``,
``scale`` and ``as_of`` always give the same rows. Names, places and texts live in
``data/seed.yaml`` and ``data/seed_names.yaml`` (in ``finassist.store``); this package holds
only the rules:

- :mod:`.cast`: the companies, their names and codes, and who trades with whom;
- :mod:`.trade`: invoices and the payments that settle them;
- :mod:`.events`: purchase orders, financing applications and risk events;
- :mod:`.writer`: chunked inserts and the cast's own rows;
- :mod:`.generate`: :func:`seed_database`, the stages in one transaction.

``scale`` multiplies the filler companies (and so the invoices); planted companies stay as they
are. Measured on SQLite on a 2-core machine: scale=1 writes about 25,000 invoices in under 1 s;
scale=44 is the smallest to pass 1 million invoices (1.05 million, plus 0.99 million payments,
in 40-45 s); scale=50 writes 1.18 million in about 46 s. Rows are inserted in chunks of
CHUNK_ROWS and never all held in memory (peak about 450 MB, most of it SQLite's page cache).

>>> db = Database("sqlite:////tmp/demo.db"); db.migrate()   # doctest: +SKIP
>>> seed_database(db, seed=42).planted["cash_stress"]         # doctest: +SKIP
'E0005'
"""

from finassist.store.seed.generate import DEFAULT_AS_OF, PLANTED_KEYS, SeedReport, seed_database
from finassist.store.uscc import is_valid_uscc, uscc_check_digit

__all__ = [
    "DEFAULT_AS_OF",
    "PLANTED_KEYS",
    "SeedReport",
    "is_valid_uscc",
    "seed_database",
    "uscc_check_digit",
]
