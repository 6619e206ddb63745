"""Storage: the one SQLAlchemy engine, the schema, migrations and the sample-data generator."""

from finassist.store.database import Database

__all__ = ["Database"]
