"""Safe retries: a request sent again with the same ``Idempotency-Key`` header gets the stored
response instead of a second answer (and a second stored turn).

The key is claimed (a row with no response) before the turn is answered, filled with the
response after it, and released again when the turn fails, so a retry after an error answers
afresh. A retry while the first request is still running gets 409; the same key with another
request body gets 400. Keys belong to the API key that sent them and are kept for
``RETENTION``.

>>> store = IdempotencyStore(db)                                  # doctest: +SKIP
>>> store.claim("k1", "retry-1", fingerprint)  # None: go ahead  # doctest: +SKIP
>>> store.finish("k1", "retry-1", {"body": ..., "headers": ...})  # doctest: +SKIP
>>> store.claim("k1", "retry-1", fingerprint)  # the stored response  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from finassist.serve.errors import ApiError
from finassist.store import Database
from finassist.store.schema import idempotency_keys

HEADER = "Idempotency-Key"
MAX_KEY_CHARS = 255
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces
RETENTION = timedelta(hours=24)
RETRY_AFTER_SECONDS = "1"


def fingerprint(data: Any) -> str:
    """A stable hash of a request (its JSON form, keys sorted)."""
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_key(value: str | None) -> str | None:
    """A well-formed ``Idempotency-Key`` or None; 400 for a malformed one."""
    if value is None or value == "":
        return None
    if not KEY_PATTERN.match(value):
        raise ApiError(
            400,
            f"{HEADER} 格式不正确：应为 1-{MAX_KEY_CHARS} 个可打印 ASCII 字符（不含空格）。",
            code="invalid_idempotency_key",
            param=HEADER,
        )
    return value


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class IdempotencyStore:
    """Claim, fill and release idempotency keys in the database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def claim(self, api_key_id: str, key: str, request_hash: str) -> dict[str, Any] | None:
        """None when this request may go ahead (the key is now claimed); the stored response
        when the key was used before for the same request. 409 while the first is running,
        400 when the key was used for another request."""
        key_hash, now = _hash(key), datetime.now().replace(microsecond=0)
        where = (idempotency_keys.c.api_key_id == api_key_id) & (
            idempotency_keys.c.key_hash == key_hash
        )
        try:
            with self.db.write() as conn:
                conn.execute(
                    delete(idempotency_keys).where(idempotency_keys.c.created_at < now - RETENTION)
                )
                row = conn.execute(
                    select(idempotency_keys.c.fingerprint, idempotency_keys.c.response).where(where)
                ).one_or_none()
                if row is None:
                    conn.execute(
                        insert(idempotency_keys).values(
                            api_key_id=api_key_id,
                            key_hash=key_hash,
                            fingerprint=request_hash,
                            response=None,
                            created_at=now,
                        )
                    )
                    return None
        except IntegrityError:  # another request claimed it between our read and insert
            row = None
        if row is None or row.response is None:
            raise ApiError(
                409,
                f"使用相同 {HEADER} 的请求仍在处理中，请稍后重试。",
                code="idempotency_key_in_use",
                param=HEADER,
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            )
        if row.fingerprint != request_hash:
            raise ApiError(
                400,
                f"{HEADER} 已用于另一个请求：同一个键只能重试完全相同的请求，新请求请换一个键。",
                code="idempotency_key_reused",
                param=HEADER,
            )
        stored: dict[str, Any] = json.loads(row.response)
        return stored

    def finish(self, api_key_id: str, key: str, response: dict[str, Any]) -> None:
        """Store the response of the request that claimed ``key``."""
        with self.db.write() as conn:
            conn.execute(
                update(idempotency_keys)
                .where(
                    (idempotency_keys.c.api_key_id == api_key_id)
                    & (idempotency_keys.c.key_hash == _hash(key))
                )
                .values(response=json.dumps(response, ensure_ascii=False))
            )

    def release(self, api_key_id: str, key: str) -> None:
        """Forget a claim whose request failed (a retry then answers afresh)."""
        with self.db.write() as conn:
            conn.execute(
                delete(idempotency_keys).where(
                    (idempotency_keys.c.api_key_id == api_key_id)
                    & (idempotency_keys.c.key_hash == _hash(key))
                    & idempotency_keys.c.response.is_(None)
                )
            )
