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


def test_a_misspelt_key_in_the_file_names_the_key_the_file_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / "finassist.toml").write_text('[finassist]\nmanagr = "M002"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"managr.*manager") as top:
        Settings.load()
    assert "finassist.toml" in str(top.value)
    (tmp_path / "finassist.toml").write_text(
        '[finassist.models.local]\nbackend = "openai"\nbase_ur = "http://127.0.0.1:8000/v1"\n'
        'modle = "qwen"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"\[finassist\.models\.local\].*base_ur.*base_url"):
        Settings.load()


def test_sections_nest_in_env_and_old_flat_names_still_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FINASSIST_SERVER__PORT", "9001")
    monkeypatch.setenv("FINASSIST_SERVE_RATE_PER_MINUTE", "0")
    monkeypatch.setenv("FINASSIST_WEBSEARCH", "searxng")
    monkeypatch.setenv("FINASSIST_WEBSEARCH_URL", "http://127.0.0.1:8888")
    settings = Settings.load()
    assert (settings.server.port, settings.server.rate_per_minute) == (9001, 0)
    assert settings.websearch.enabled and settings.websearch.url == "http://127.0.0.1:8888"


def test_an_unknown_env_var_is_ignored_but_a_wrong_type_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FINASSIST_SERVR__PORT", "9001")  # not ours: the environment is shared
    assert Settings.load().server.port == 8000
    monkeypatch.setenv("FINASSIST_SERVER__WORKERS", "many")
    with pytest.raises(ConfigError, match=r"FINASSIST_SERVER__WORKERS.*应为整数"):
        Settings.load()
