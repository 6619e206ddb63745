"""Typed errors. Each carries a Chinese message a user can act on; the CLI prints it as is."""

from __future__ import annotations

from typing import Any


class FinassistError(Exception):
    """Base of every error a user may see. ``str(err)`` is the message to show."""

    exit_code = 1


class ConfigError(FinassistError):
    """Settings or the config file are wrong."""


class DatabaseUnavailable(FinassistError):
    """The database cannot be reached."""


class SchemaVersionError(FinassistError):
    """The database schema is missing or at another version than this code expects."""


class NotFound(FinassistError):
    """A thing the user named does not exist (or is outside the caller's scope: same message)."""


class AccessDenied(FinassistError):
    """The caller is not allowed to do this."""


class InvalidInput(FinassistError):
    """The user's input cannot be used as given."""


class DuplicateName(ConfigError):
    """Two things were registered under one name; the second would silently replace the first."""


def add_unique(registry: dict[str, Any], name: str, value: Any, what: str) -> None:
    """Put ``value`` in ``registry`` under ``name``; :class:`DuplicateName` if it is taken."""
    if name in registry and registry[name] is not value:
        raise DuplicateName(f"{what}「{name}」被重复注册：{registry[name]!r} 与 {value!r}。")
    registry[name] = value
