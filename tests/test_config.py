"""Settings: defaults, the TOML file and environment variables, and clear errors."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from finassist.config import Settings
from finassist.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "FINASSIST_HOME",
        "FINASSIST_DATABASE_URL",
        "FINASSIST_CONFIG",
        "FINASSIST_AS_OF",
        "FINASSIST_MANAGER",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_default_is_sqlite_under_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FINASSIST_HOME", str(tmp_path / "h"))
    settings = Settings.load()
    assert settings.database_url_resolved() == f"sqlite:///{tmp_path / 'h' / 'finassist.db'}"


def test_toml_file_is_read_and_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "finassist.toml").write_text(
        'manager = "M002"\nas_of = 2026-06-30\ndatabase_url = "sqlite:////tmp/x.db"\n',
        encoding="utf-8",
    )
    settings = Settings.load()
    assert (settings.manager, settings.as_of) == ("M002", date(2026, 6, 30))
    monkeypatch.setenv("FINASSIST_MANAGER", "M003")
    assert Settings.load().manager == "M003"


def test_invalid_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINASSIST_AS_OF", "yesterday")
    with pytest.raises(ConfigError, match="as_of"):
        Settings.load()


def test_missing_explicit_config_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FINASSIST_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match=r"nope\.toml"):
        Settings.load()
