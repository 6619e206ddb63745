"""Running ``finassist`` as a user does: a real process with its own FINASSIST_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from finassist.store import Database


def run_cli(
    home: Path, *args: str, stdin: str = "", timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    """``finassist ARGS`` with ``FINASSIST_HOME=home``, no other FINASSIST_* from the caller."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FINASSIST_")}
    environ.update({"FINASSIST_HOME": str(home), "COLUMNS": "200", **env})
    return subprocess.run(
        [sys.executable, "-m", "finassist.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environ,
        timeout=timeout,
        check=False,
    )


def home_with_sample(home: Path, sample_db: Database) -> Path:
    """Make ``home`` a FINASSIST_HOME whose database is a copy of the seeded sample."""
    source = Path(sample_db.url.removeprefix("sqlite:///"))
    (home / "finassist.db").write_bytes(source.read_bytes())
    return home
