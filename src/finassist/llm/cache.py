"""Model responses cached in the database, keyed by model, messages, tools and evidence.

The same question over the same evidence gets the same answer without another model call
(and costs nothing); new data changes the evidence and so the key. Entries expire after
``ttl`` seconds; ``ttl=0`` turns the cache off.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select

from finassist.llm.types import ChatResponse, Message
from finassist.store import Database
from finassist.store.schema import llm_cache


def cache_key(
    model: str,
    messages: list[Message],
    tools: list[dict[str, Any]] | None = None,
    evidence: Any = None,
) -> str:
    """sha256 over everything that decides the answer."""
    payload = {
        "model": model,
        "messages": [m.to_openai() for m in messages],
        "tools": tools or [],
        "evidence": evidence,
    }
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _now() -> datetime:
    return datetime.now().replace(microsecond=0)


class ResponseCache:
    """Get and put :class:`ChatResponse` objects in the ``llm_cache`` table."""

    def __init__(self, db: Database, ttl: int = 86400) -> None:
        self.db = db
        self.ttl = ttl

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def get(self, key: str) -> ChatResponse | None:
        """The cached response, or None (absent, expired or cache off)."""
        if not self.enabled:
            return None
        with self.db.read() as conn:
            row = conn.execute(
                select(llm_cache.c.response, llm_cache.c.expires_at).where(llm_cache.c.key == key)
            ).one_or_none()
        if row is None or row.expires_at <= _now():
            return None
        return ChatResponse.from_json(json.loads(row.response))

    def put(self, key: str, model: str, response: ChatResponse) -> None:
        """Store (or replace) a response; expired entries are swept in the same transaction."""
        if not self.enabled:
            return
        now = _now()
        with self.db.write() as conn:
            conn.execute(
                delete(llm_cache).where((llm_cache.c.key == key) | (llm_cache.c.expires_at <= now))
            )
            conn.execute(
                insert(llm_cache).values(
                    key=key,
                    model=model[:128],
                    response=json.dumps(response.to_json(), ensure_ascii=False),
                    created_at=now,
                    expires_at=now + timedelta(seconds=self.ttl),
                )
            )
