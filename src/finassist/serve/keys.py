"""API keys: created once and shown once, stored as a salted hash, bound to one manager or admin.

A key reads ``fa-<id>.<secret>``. The id is stored in clear (it names the key in ``keys list``
and finds its row); the secret is 32 random bytes, stored only as ``sha256(salt + secret)``.
A fast hash suffices because the secret is random (no dictionary to guess from); a slow one
(scrypt) would cost tens of milliseconds on every request.

>>> store = ApiKeyStore(db)                      # doctest: +SKIP
>>> created = store.create("M001", label="网点终端")   # doctest: +SKIP
>>> store.verify(created.key).manager_id           # doctest: +SKIP
'M001'
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import insert, select, update

from finassist.errors import InvalidInput, NotFound
from finassist.store import Database
from finassist.store.schema import api_keys, managers

KEY_PREFIX = "fa-"
ID_BYTES = 6
SECRET_BYTES = 32
SALT_BYTES = 16
MAX_KEY_CHARS = 200
ROLES = ("manager", "admin")


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: the key's id, the bound manager and whether that is an admin."""

    key_id: str
    manager_id: str
    is_admin: bool = False


@dataclass(frozen=True)
class CreatedKey:
    """A new key: ``key`` is the only time the full secret exists in clear."""

    id: str
    key: str
    manager_id: str
    role: str
    label: str


@dataclass(frozen=True)
class KeyInfo:
    """A stored key, as ``keys list`` shows it (never the secret)."""

    id: str
    manager_id: str
    role: str
    label: str
    created_at: datetime
    revoked_at: datetime | None


def _hash(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode("utf-8")).hexdigest()


def parse_key(key: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a well-formed key, else None."""
    if not key.startswith(KEY_PREFIX) or len(key) > MAX_KEY_CHARS:
        return None
    key_id, sep, secret = key[len(KEY_PREFIX) :].partition(".")
    if not sep or not key_id or not secret:
        return None
    return key_id, secret


class ApiKeyStore:
    """Create, verify, list and revoke API keys in the ``api_keys`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self, manager_id: str | None = None, *, admin: bool = False, label: str = ""
    ) -> CreatedKey:
        """A key for relationship manager ``manager_id``, or (``admin=True``) for an admin.

        With ``admin=True`` and no id, the key is bound to the first admin account.
        """
        role = "admin" if admin else "manager"
        with self.db.read() as conn:
            rows = conn.execute(
                select(managers.c.id, managers.c.role).order_by(managers.c.id)
            ).all()
        by_id = {r.id: r.role for r in rows}
        if manager_id is None:
            if not admin:
                raise InvalidInput("请用 --manager 指定客户经理编号（如 M001），或用 --admin。")
            admins = [i for i, r in by_id.items() if r == "admin"]
            if not admins:
                raise NotFound(
                    "数据库中没有管理员账号，请先运行 `finassist db seed` 或添加管理员。"
                )
            manager_id = admins[0]
        if manager_id not in by_id:
            raise NotFound(
                f"未知的客户经理编号：{manager_id}。可用编号：{'、'.join(by_id) or '（无）'}"
            )
        if by_id[manager_id] != role:
            wanted = "管理员" if admin else "客户经理"
            raise InvalidInput(f"{manager_id} 不是{wanted}账号，不能创建{wanted}密钥。")
        key_id = secrets.token_hex(ID_BYTES)
        secret = secrets.token_urlsafe(SECRET_BYTES)
        salt = secrets.token_hex(SALT_BYTES)
        with self.db.write() as conn:
            conn.execute(
                insert(api_keys).values(
                    id=key_id,
                    manager_id=manager_id,
                    role=role,
                    label=label[:64],
                    salt=salt,
                    secret_hash=_hash(salt, secret),
                    created_at=datetime.now().replace(microsecond=0),
                    revoked_at=None,
                )
            )
        return CreatedKey(key_id, f"{KEY_PREFIX}{key_id}.{secret}", manager_id, role, label[:64])

    def verify(self, key: str) -> Principal | None:
        """The principal of a valid, unrevoked key; None for anything else."""
        parsed = parse_key(key)
        if parsed is None:
            return None
        key_id, secret = parsed
        with self.db.read() as conn:
            row = conn.execute(
                select(
                    api_keys.c.manager_id,
                    api_keys.c.role,
                    api_keys.c.salt,
                    api_keys.c.secret_hash,
                    api_keys.c.revoked_at,
                ).where(api_keys.c.id == key_id)
            ).one_or_none()
        if row is None or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(_hash(row.salt, secret), row.secret_hash):
            return None
        return Principal(key_id, row.manager_id, is_admin=row.role == "admin")

    def list(self) -> list[KeyInfo]:
        """Every key, newest first (revoked ones included, marked)."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(api_keys).order_by(api_keys.c.created_at.desc(), api_keys.c.id)
            ).all()
        return [
            KeyInfo(r.id, r.manager_id, r.role, r.label, r.created_at, r.revoked_at) for r in rows
        ]

    def revoke(self, key_id: str) -> None:
        """Revoke a key by its id (or the full key); :class:`NotFound` if there is no such key."""
        parsed = parse_key(key_id)
        key_id = parsed[0] if parsed else key_id
        with self.db.write() as conn:
            done = conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now().replace(microsecond=0))
            ).rowcount
        if not done:
            raise NotFound(
                f"没有可吊销的密钥 {key_id}（不存在或已吊销），可用 `finassist keys list` 查看。"
            )

    def reuse_or_create(self, manager_id: str, *, label: str, keep: Path) -> str:
        """The key saved in ``keep`` while it is still valid for ``manager_id``; else a new one.

        ``finassist demo`` uses this so each run prints the same key. A new key revokes the
        manager's older keys with the same ``label`` (they would otherwise stay valid, unused),
        and is saved to ``keep`` readable by its owner only.
        """
        saved = keep.read_text("utf-8").strip() if keep.is_file() else ""
        principal = self.verify(saved) if saved else None
        if principal is not None and principal.manager_id == manager_id and not principal.is_admin:
            return saved
        with self.db.write() as conn:
            conn.execute(
                update(api_keys)
                .where(
                    api_keys.c.manager_id == manager_id,
                    api_keys.c.label == label[:64],
                    api_keys.c.revoked_at.is_(None),
                )
                .values(revoked_at=datetime.now().replace(microsecond=0))
            )
        created = self.create(manager_id, label=label)
        keep.parent.mkdir(parents=True, exist_ok=True)
        keep.touch(mode=0o600, exist_ok=True)
        keep.chmod(0o600)
        keep.write_text(created.key + "\n", encoding="utf-8")
        return created.key
