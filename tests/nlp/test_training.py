"""Training helpers: deterministic fits, calibrated temperature, models that round-trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from finassist.nlp.linear import LinearModel
from finassist.nlp.training import fit_temperature, stratified_split

pytest.importorskip("sklearn", reason="训练需要 scikit-learn（data 扩展）")

from finassist.nlp.training import fit_linear

TEXTS = ["大涨", "涨停", "暴涨", "上涨", "走高", "大跌", "跌停", "暴跌", "下跌", "走低"] * 2
LABELS = ["积极"] * 5 + ["消极"] * 5
LABELS = LABELS * 2


def chars(text: str) -> dict[str, float]:
    return {c: 1.0 for c in text}


def test_fit_is_deterministic_and_round_trips(tmp_path: Path) -> None:
    first = fit_linear(TEXTS, LABELS, chars, c=5.0, folds=2)
    second = fit_linear(TEXTS, LABELS, chars, c=5.0, folds=2)
    assert np.array_equal(first.coef, second.coef)
    first.save(tmp_path / "m.npz")
    loaded = LinearModel.load(tmp_path / "m.npz")
    feats = chars("涨")
    assert np.allclose(loaded.predict_proba(feats), first.predict_proba(feats), atol=1e-6)
    assert loaded.classes[int(loaded.predict_proba(feats).argmax())] == "积极"
    assert loaded.classes[int(loaded.predict_proba(chars("跌")).argmax())] == "消极"


def test_temperature_sharpens_underconfident_scores() -> None:
    scores = np.array([[0.2, 0.0], [0.0, 0.2]] * 20)
    labels = np.array([0, 1] * 20)
    assert fit_temperature(scores, labels) < 1.0


def test_split_is_stratified_and_stable() -> None:
    labels = ["a"] * 10 + ["b"] * 5
    train, test = stratified_split(labels)
    assert (train, test) == stratified_split(labels)
    assert sorted(train + test) == list(range(15))
    assert [labels[i] for i in test].count("a") == 2 and [labels[i] for i in test].count("b") == 1
