"""The issue-16 word problems (tests/data/calc_problems.yaml): the calculator is never
confidently wrong, offline or with a model filling the bindings (scored as bench/calculator.py)."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "calculator.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_calculator", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_calculator"] = module
    spec.loader.exec_module(module)
    return module


def _counts(bench: ModuleType, solve) -> tuple[Counter, int]:
    items = bench.problems()
    return Counter(bench.grade(p, solve(p)) for p in items), len(items)


def test_the_set_is_large_and_has_problems_to_decline(bench: ModuleType) -> None:
    items = bench.problems()
    assert len(items) >= 100 and sum(1 for p in items if p.get("decline")) >= 15
    assert all(p.get("decline") or p.get("answer") for p in items)


def test_offline_is_rarely_wrong_and_often_right(bench: ModuleType) -> None:
    counts, n = _counts(bench, bench.run_offline)
    assert counts["wrong"] <= 0.05 * n and counts["right"] >= 0.30 * n, counts


def test_with_model_bindings_the_guard_keeps_wrong_answers_out(bench: ModuleType) -> None:
    counts, n = _counts(bench, bench.run_scripted)
    assert counts["wrong"] <= 0.02 * n and counts["right"] >= 0.90 * n, counts


def test_gold_answers_are_compared_with_units(bench: ModuleType) -> None:
    from decimal import Decimal

    assert bench.same(Decimal("27.30"), "亿元", Decimal("27.3"), "亿元")
    assert bench.same(Decimal("2730.00"), "万元", Decimal("0.273"), "亿元")
    assert bench.same(Decimal("2740.00"), "万元", Decimal("0.273"), "亿元") is False
    assert bench.same(Decimal("27.30"), "亿元", Decimal("27.30"), "亿美元") is False
