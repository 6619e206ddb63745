"""Fitting helpers for the training scripts: sparse matrices, logistic regression, temperature.

scikit-learn and scipy are imported inside the functions: they come with the ``data`` extra and
are needed to train, never to run a model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from finassist.errors import FinassistError
from finassist.nlp.linear import LinearModel

Featurizer = Callable[[str], dict[str, float]]
TEMPERATURES = np.round(np.arange(0.3, 4.01, 0.05), 2)


class TrainingUnavailable(FinassistError):
    """Training needs scikit-learn, which is not installed."""


def _sklearn() -> Any:
    try:
        import sklearn
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise TrainingUnavailable(
            "训练模型需要 scikit-learn：请运行 pip install 'finassist[data]' 后重试。"
        ) from exc
    import sklearn.linear_model

    return sklearn


def matrix(feats: Sequence[dict[str, float]], vocabulary: dict[str, int]) -> Any:
    """A CSR matrix of feature dicts over ``vocabulary`` (unknown features dropped)."""
    from scipy.sparse import csr_matrix

    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for i, feat in enumerate(feats):
        for key, value in feat.items():
            j = vocabulary.get(key)
            if j is not None:
                rows.append(i)
                cols.append(j)
                vals.append(value)
    return csr_matrix((vals, (rows, cols)), shape=(len(feats), len(vocabulary)), dtype=np.float64)


def build_vocabulary(feats: Sequence[dict[str, float]], min_count: int = 1) -> dict[str, int]:
    """Features seen at least ``min_count`` times, in sorted order (deterministic)."""
    counts: dict[str, int] = {}
    for feat in feats:
        for key in feat:
            counts[key] = counts.get(key, 0) + 1
    keys = sorted(k for k, c in counts.items() if c >= min_count)
    return {k: i for i, k in enumerate(keys)}


def fit_temperature(scores: np.ndarray, labels: np.ndarray) -> float:
    """The softmax temperature minimising the negative log-likelihood of held-out scores."""
    best, best_nll = 1.0, math.inf
    for t in TEMPERATURES:
        z = scores / t
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        nll = -float(logp[np.arange(len(labels)), labels].mean())
        if nll < best_nll:
            best, best_nll = float(t), nll
    return best


def fit_linear(
    texts: Sequence[str],
    labels: Sequence[str],
    featurize: Featurizer,
    *,
    c: float = 10.0,
    min_count: int = 1,
    calibrate: bool = True,
    folds: int = 5,
    class_weight: str | None = None,
    meta: dict[str, Any] | None = None,
) -> LinearModel:
    """Fit a multinomial logistic regression; calibrate its temperature on out-of-fold scores."""
    sk = _sklearn()
    from sklearn.model_selection import StratifiedKFold

    feats = [featurize(t) for t in texts]
    vocabulary = build_vocabulary(feats, min_count)
    x = matrix(feats, vocabulary)
    classes = sorted(set(labels))
    y = np.array([classes.index(label) for label in labels])

    def model() -> Any:
        return sk.linear_model.LogisticRegression(C=c, max_iter=5000, class_weight=class_weight)

    temperature = 1.0
    if calibrate:
        n_folds = min(folds, int(np.bincount(y).min()))
        if n_folds >= 2:
            oof = np.zeros((len(y), len(classes)))
            splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=0)
            for train, test in splitter.split(x, y):
                fold = model().fit(x[train], y[train])
                scores = _two_columns(fold.decision_function(x[test]))
                # A fold may miss a class: put its scores where they belong.
                oof[np.ix_(test, fold.classes_)] = scores
                missing = np.setdiff1d(np.arange(len(classes)), fold.classes_)
                oof[np.ix_(test, missing)] = -1e3
            temperature = fit_temperature(oof, y)
    final = model().fit(x, y)
    coef, intercept = final.coef_, final.intercept_
    if coef.shape[0] == 1:  # binary: one score z; softmax([-z/2, z/2]) is sigmoid(z)
        coef = np.vstack([-coef / 2, coef / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    return LinearModel(
        classes=classes,
        vocabulary=vocabulary,
        coef=coef.astype(np.float32),
        intercept=intercept.astype(np.float32),
        temperature=temperature,
        meta=dict(meta or {}),
    )


def _two_columns(scores: np.ndarray) -> np.ndarray:
    """Binary classifiers give one score per row; make it the two softmax columns."""
    return np.column_stack([-scores / 2, scores / 2]) if scores.ndim == 1 else scores


def stratified_split(
    labels: Sequence[str], test_share: float = 0.2, seed: int = 0
) -> tuple[list[int], list[int]]:
    """Indices of a deterministic stratified train/held-out split."""
    rng = np.random.default_rng(seed)
    train: list[int] = []
    test: list[int] = []
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    for label in sorted(by_label):
        idx = np.array(by_label[label])
        rng.shuffle(idx)
        k = max(1, round(len(idx) * test_share)) if len(idx) > 1 else 0
        test.extend(int(i) for i in idx[:k])
        train.extend(int(i) for i in idx[k:])
    return sorted(train), sorted(test)
