"""Stored runs and the before/after comparison."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from finassist.errors import NotFound
from finassist.evaluate import (
    TaskResult,
    compare,
    list_runs,
    load_run,
    render_html,
    runs_dir,
    save_run,
)


def results(acc: float, f1: float) -> list[TaskResult]:
    return [
        TaskResult(
            "意图",
            "classification",
            4,
            {"accuracy": acc, "macro_f1": f1},
            "macro_f1",
            [{"gold": "stock", "pred": "stock"}],
        ),
        TaskResult("ner_demo", "ner", 2, {"precision": 1.0, "recall": 0.5, "f1": 2 / 3}, "f1"),
    ]


def test_runs_are_stored_listed_and_compared(tmp_path: Path) -> None:
    a = save_run(tmp_path, "offline", results(0.5, 0.4), now=datetime(2026, 11, 1, 9))
    b = save_run(tmp_path, "qwen-lora", results(0.75, 0.6), now=datetime(2026, 11, 2, 9))
    folder = runs_dir(tmp_path) / a.run_id
    assert json.loads((folder / "run.json").read_text("utf-8"))["model"] == "offline"
    assert json.loads((folder / "01-意图.json").read_text("utf-8"))["items"]  # details per task
    assert not list(folder.glob("*.tmp"))
    assert [r.run_id for r in list_runs(tmp_path)] == [b.run_id, a.run_id]

    rows = compare(load_run(tmp_path, a.run_id), load_run(tmp_path, b.run_id[:20]))
    by = {(r.task, r.metric): r for r in rows}
    assert by[("意图", "accuracy")].delta == pytest.approx(0.25)
    assert by[("ner_demo", "f1")].delta == 0.0
    overall = by[("总体", "primary_mean")]  # mean of macro_f1 and f1
    assert overall.a == pytest.approx((0.4 + 2 / 3) / 2)
    assert overall.b == pytest.approx((0.6 + 2 / 3) / 2)

    page = render_html(a, b, rows)
    assert "<svg" in page and "意图" in page and "+0.2500" in page


def test_unknown_run_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="eval list"):
        load_run(tmp_path, "nope")
    assert list_runs(tmp_path) == []
