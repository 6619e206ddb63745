"""Each worker warms up before it takes requests: offline, unrecorded, never a model."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from finassist.config import Settings
from finassist.finance.evidence import load_metric_definitions
from finassist.llm.scripted import ScriptedBackend
from finassist.nlp.intent import IntentRouter
from finassist.runtime import build_assistant
from finassist.serve.warmup import warm_up
from finassist.store import Database
from finassist.store.schema import sessions, turns


def count(db: Database) -> tuple[int, int]:
    with db.read() as conn:
        return (
            conn.execute(select(func.count()).select_from(sessions)).scalar_one(),
            conn.execute(select(func.count()).select_from(turns)).scalar_one(),
        )


def test_warm_up_asks_offline_and_stores_nothing(home: Path) -> None:
    model = ScriptedBackend()  # no answers queued: a call would fail, and be recorded
    db = Database(f"sqlite:///{home / 'finassist.db'}")
    assistant = build_assistant(
        Settings(home=home), db=db, intents=IntentRouter.rules_only(), backend=model, web=None
    )
    before = count(db)
    load_metric_definitions.cache_clear()
    warm_up(assistant)
    assert load_metric_definitions.cache_info().currsize == 1  # what the first turn would load
    assert model.requests == [] and count(db) == before
    offline = build_assistant(Settings(home=home), db=db, intents=IntentRouter.rules_only())
    warm_up(offline)  # without a model the assistant itself is warmed, unrecorded
    assert count(db) == before
    db.dispose()


def test_warm_up_leaves_an_empty_database_alone(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    db.migrate()
    warm_up(build_assistant(Settings(home=tmp_path), db=db, intents=IntentRouter.rules_only()))
    assert count(db) == (0, 0)
    db.dispose()
