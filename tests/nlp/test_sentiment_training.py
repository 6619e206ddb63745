"""Fitting the sentence model: the class prior is chosen on the training rows alone."""

from __future__ import annotations

import numpy as np
import pytest

from finassist.errors import InvalidInput
from finassist.nlp.train_sentiment import C_SENTENCE, PRIOR_ALPHAS, fit_sentence_model

pytest.importorskip("sklearn")


def featurize(text: str) -> dict[str, float]:
    return {f"w:{word}": 1.0 for word in text.split()}


def test_without_evidence_the_training_balance_decides() -> None:
    # Rows that say nothing (same features) are mostly 积极 in this source: a balanced fit alone
    # would call them any class; the prior chosen by cross-validation makes them 积极.
    texts = ["今天 收盘"] * 12 + ["大涨"] * 3 + ["大跌"] * 3
    labels = ["积极"] * 6 + ["中性"] * 3 + ["消极"] * 3 + ["积极"] * 3 + ["消极"] * 3
    model = fit_sentence_model(texts, labels, featurize)
    assert model.meta["prior_alpha"] in PRIOR_ALPHAS and model.meta["prior_alpha"] > 0
    proba = model.predict_proba(featurize("今天 收盘"))
    assert model.classes[int(np.argmax(proba))] == "积极"
    assert model.classes[int(np.argmax(model.predict_proba(featurize("大跌"))))] == "消极"


def test_balanced_sources_keep_the_smallest_prior() -> None:
    texts = ["大涨 利好", "大跌 利空", "召开 会议"] * 6
    labels = ["积极", "消极", "中性"] * 6
    model = fit_sentence_model(texts, labels, featurize)
    assert model.meta["prior_alpha"] == 0.0  # every exponent ties; the prior adds nothing


def test_regularisation_is_chosen_on_the_training_rows_or_given() -> None:
    texts = ["大涨 利好", "大跌 利空", "召开 会议"] * 6
    labels = ["积极", "消极", "中性"] * 6
    assert fit_sentence_model(texts, labels, featurize).meta["c"] in C_SENTENCE
    assert fit_sentence_model(texts, labels, featurize, c=2.0).meta["c"] == 2.0


def test_too_few_rows_of_a_class_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="至少需要"):
        fit_sentence_model(
            ["大涨", "大跌", "大涨", "大跌"], ["积极", "消极", "积极", "中性"], featurize
        )
