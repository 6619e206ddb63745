"""Shared fixtures of the nlp tests: the public data beside the clone, when it is there."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` relative to the repository root; the test is skipped without it."""
    if not SHARED.is_dir():
        pytest.skip(f"公共数据目录 {SHARED} 不存在：跳过需要开发数据的测试。")
    return SHARED
