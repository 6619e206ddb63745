"""Skips for tests that need a system package pip cannot install (Chromium, poppler, Pango).

Each ``require_*`` skips with a reason naming the Debian package, so ``pytest`` passes on a
machine with only Python and pip. CI's run with the packages installed sets
``FINASSIST_TEST_REQUIRE_SYSTEM=1`` (or the older ``FINASSIST_TEST_REQUIRE_BROWSER=1``), which
turns those skips into failures. Tests that call one are marked ``system`` (``pytest -m system``
runs just them).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

import pytest

CHROMIUM = "/usr/bin/chromium"


def _missing(reason: str) -> None:
    required = {
        os.environ.get("FINASSIST_TEST_REQUIRE_SYSTEM"),
        os.environ.get("FINASSIST_TEST_REQUIRE_BROWSER"),
    }
    if "1" in required:
        pytest.fail(reason)
    pytest.skip(reason)


def require_chromium() -> str:
    """The Chromium executable; skips without Debian's ``chromium``."""
    found = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    if not found:
        _missing("needs the system package chromium (apt-get install chromium)")
    return str(found)


def require_poppler() -> None:
    """Skips without poppler's ``pdftoppm`` and ``pdffonts``."""
    if shutil.which("pdftoppm") is None or shutil.which("pdffonts") is None:
        _missing("needs the system package poppler-utils (pdftoppm, pdffonts)")


def require_pango() -> None:
    """Skips when WeasyPrint cannot load the system's Pango."""
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError):
        _missing("needs the system packages libpango-1.0-0 and libpangoft2-1.0-0 (WeasyPrint)")


def require_all(*checks: Callable[[], object]) -> None:
    """Run several ``require_*`` checks and skip once, naming every missing package (a test
    that needs Pango and poppler names both, not just the first)."""
    missing = []
    for check in checks:
        try:
            check()
        except pytest.skip.Exception as exc:
            missing.append(str(exc.msg))
    if missing:
        pytest.skip("; ".join(missing))
