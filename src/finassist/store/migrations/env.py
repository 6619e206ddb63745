"""Alembic environment: runs migrations on the engine that ``Database`` hands over."""

from alembic import context

from finassist.store.schema import metadata

engine = context.config.attributes["engine"]

with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
