"""Train the sentiment models shipped in ``data/models/sentiment*.npz`` (deterministic).

Data (read from ``--shared``, never copied into the package; see ``data/models/MODEL_CARD.md``):
FinFE investor posts (``sentiment_finfe``, 积极/中性/消极) and CFSC-ABSA financial news with one
polarity per entity (``sentiment_cfsc_absa``). A sentence of CFSC-ABSA whose entities all share a
polarity gives a sentence-level example (a fixed random sample of :data:`NEWS_SAMPLE` of them:
each needs its sentence embedding); every entity gives a target-level example.

The sentence model is measured source-held-out (``bench/nlp.py``: trained on the posts, tested on
the news, and the other way round); the shipped models are fitted on both sources. Sentence
vectors are cached in ``--cache``, so a second run embeds nothing.

Class prior: posts and news differ in label balance (FinFE 44% 积极 / 27% 中性, the news sample
59% / 15%), so the sentence model is fitted with balanced class weights (every class weighs the
same) and the training rows' own prior is then added back with an exponent chosen by 3-fold
cross-validation *within the training rows* (:data:`PRIOR_ALPHAS`, :func:`fit_sentence_model`).
No row of another source takes part in that choice.

    python -m finassist.nlp.train_sentiment --shared ../shared/data
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from finassist.errors import InvalidInput
from finassist.nlp.dense import DEFAULT_EMBEDDER, VectorCache, dense_features
from finassist.nlp.gazetteer import Gazetteer
from finassist.nlp.linear import LinearModel
from finassist.nlp.sentiment import embedding_text, sentence_features, target_features
from finassist.nlp.sentiment_lexicon import Lexicon
from finassist.nlp.training import (
    build_vocabulary,
    fit_linear,
    fit_temperature,
    matrix,
    stratified_split,
)

OUT_DIR = Path(__file__).parent / "data" / "models"
POLARITY = {"positive": "积极", "neutral": "中性", "negative": "消极"}
# Regularisation strengths tried for the sentence model; with the prior exponent, the pair with
# the best out-of-fold accuracy on the training rows wins (a tie keeps the stronger one).
C_SENTENCE = (0.3, 1.0, 3.0, 10.0)
# Exponents tried for the training prior added to the balanced scores (0: every class equally
# likely a priori; 1: the training rows' own balance); the best out-of-fold accuracy wins.
PRIOR_ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
SENTENCE_FOLDS = 3
C_TARGET = 10.0
DENSE_WEIGHT = 1.0  # the vector's share beside the L2-normalised character features
NEWS_SAMPLE = 1800  # CFSC-ABSA sentences for the sentence model (of 5,348 that agree)
CACHE = Path(".cache/sentiment_vectors.npz")


@dataclass(frozen=True)
class TargetExample:
    """One entity of a CFSC-ABSA sentence and its polarity."""

    text: str
    start: int
    end: int
    label: str


@dataclass
class SentimentData:
    """Sentence-level and target-level examples with their held-out flags."""

    sentences: list[tuple[str, str, str, bool]]  # text, label, source, held out
    targets: list[tuple[TargetExample, bool]]


def load(shared: Path, seed: int = 0, news_sample: int | None = NEWS_SAMPLE) -> SentimentData:
    """Read FinFE and CFSC-ABSA from ``shared`` and split them (20% held out, by sentence);
    sentence-level news examples are a seeded random sample of ``news_sample`` (None: all)."""
    finfe_path = shared / "sentiment_finfe" / "finfe_dev.jsonl"
    absa_path = shared / "sentiment_cfsc_absa" / "test.json"
    for path in (finfe_path, absa_path):
        if not path.is_file():
            raise InvalidInput(f"找不到训练数据 {path}：请用 --shared 指向 shared/data 目录。")
    finfe = [
        json.loads(line) for line in finfe_path.read_text("utf-8").splitlines() if line.strip()
    ]
    texts = [str(r["text"]) for r in finfe]
    labels = [str(r["label"]) for r in finfe]
    _, held = stratified_split(labels, seed=seed)
    held_set = set(held)
    sentences = [
        (t, y, "finfe", i in held_set) for i, (t, y) in enumerate(zip(texts, labels, strict=True))
    ]

    rows = json.loads(absa_path.read_text("utf-8"))
    by_sentence: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        by_sentence.setdefault(str(row["sentence"]), []).append(row)
    order = sorted(by_sentence)
    first_label = [POLARITY[str(by_sentence[s][0]["polarity"])] for s in order]
    _, held_idx = stratified_split(first_label, seed=seed)
    held_sentences = {order[i] for i in held_idx}
    targets: list[tuple[TargetExample, bool]] = []
    news: list[tuple[str, str, str, bool]] = []
    for sentence in order:
        items = by_sentence[sentence]
        is_held = sentence in held_sentences
        polarities = {POLARITY[str(r["polarity"])] for r in items}
        if len(polarities) == 1:
            news.append((sentence.strip(), polarities.pop(), "cfsc_absa", is_held))
        for r in items:
            start, end = int(r["from"]), int(r["to"])  # type: ignore[call-overload]
            example = TargetExample(sentence, start, end, POLARITY[str(r["polarity"])])
            targets.append((example, is_held))
    if news_sample is not None and news_sample < len(news):
        pick = np.random.default_rng(seed).permutation(len(news))[:news_sample]
        news = [news[i] for i in sorted(pick)]
    return SentimentData(sentences + news, targets)


def fit_sentence_model(
    texts: list[str],
    labels: list[str],
    featurize: Callable[[str], dict[str, float]],
    *,
    c: float | Sequence[float] = C_SENTENCE,
    folds: int = SENTENCE_FOLDS,
    meta: dict[str, object] | None = None,
) -> LinearModel:
    """Logistic regression with balanced class weights, plus ``alpha * log(prior)`` of the
    training rows in its intercept; ``c`` (from :data:`C_SENTENCE`) and ``alpha`` (from
    :data:`PRIOR_ALPHAS`) by out-of-fold accuracy on the training rows alone; the temperature is
    fitted on the same out-of-fold scores.

    The balanced fit scores each class as if all were equally common; the prior term says how
    much the balance of the training source should be believed of new text. The chosen
    ``c``, ``prior_alpha`` and their out-of-fold accuracy are kept in ``meta``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    feats = [featurize(t) for t in texts]
    vocabulary = build_vocabulary(feats, min_count=3)
    x = matrix(feats, vocabulary)
    classes = sorted(set(labels))
    y = np.array([classes.index(label) for label in labels])
    counts = np.bincount(y, minlength=len(classes))
    if counts.min() < folds:
        raise InvalidInput(f"每个情感类别至少需要 {folds} 条训练样例（现有 {counts.tolist()}）。")
    log_prior = np.log(counts / counts.sum())

    def model(strength: float) -> LogisticRegression:
        return LogisticRegression(C=strength, max_iter=5000, class_weight="balanced")

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    splits = list(splitter.split(x, y))
    oofs: dict[float, np.ndarray] = {}
    accuracy: dict[tuple[float, float], float] = {}
    for strength in (c,) if isinstance(c, float | int) else tuple(c):
        oof = np.zeros((len(y), len(classes)))
        for train, test in splits:
            oof[test] = model(strength).fit(x[train], y[train]).decision_function(x[test])
        oofs[strength] = oof
        for a in PRIOR_ALPHAS:
            accuracy[(strength, a)] = float(((oof + a * log_prior).argmax(1) == y).mean())
    # A tie keeps the stronger regularisation, then the smaller prior.
    c, alpha = max(accuracy, key=lambda k: (accuracy[k], -k[0], -k[1]))
    oof = oofs[c]
    final = model(c).fit(x, y)
    return LinearModel(
        classes=classes,
        vocabulary=vocabulary,
        coef=final.coef_.astype(np.float32),
        intercept=(final.intercept_ + alpha * log_prior).astype(np.float32),
        temperature=fit_temperature(oof + alpha * log_prior, y),
        meta={
            **(meta or {}),
            "c": c,
            "prior_alpha": alpha,
            "prior": dict(zip(classes, np.round(counts / counts.sum(), 3).tolist(), strict=True)),
            "cv_accuracy": round(accuracy[(c, alpha)], 4),
        },
    )


def train_sentence(
    rows: list[tuple[str, str]],
    gazetteer: Gazetteer,
    cache: VectorCache | None = None,
    **meta: object,
) -> LinearModel:
    """Fit the sentence model on (text, label) rows (:func:`fit_sentence_model`); with
    ``cache``, over the sentence embedding too."""
    lexicon = Lexicon.default()
    texts = [r[0] for r in rows]
    vectors: dict[str, np.ndarray] = {}
    if cache is not None:
        keys = [embedding_text(t) for t in texts]
        vectors = dict(zip(keys, cache.vectors(keys, progress=True), strict=True))
        meta = {**meta, "dense": {"embedder": cache.embedder, "weight": DENSE_WEIGHT}}

    def featurize(text: str) -> dict[str, float]:
        feats = sentence_features(text, gazetteer, lexicon)
        if vectors:
            feats.update(dense_features(vectors[embedding_text(text)], DENSE_WEIGHT))
        return feats

    return fit_sentence_model(texts, [r[1] for r in rows], featurize, meta=dict(meta))


def train_target(
    rows: list[TargetExample], gazetteer: Gazetteer, *, calibrate: bool = True, **meta: object
) -> LinearModel:
    """Fit the target model; a target is passed to the featurizer as ``start:end|text``."""
    keyed = [f"{r.start}:{r.end}|{r.text}" for r in rows]

    def featurize(key: str) -> dict[str, float]:
        span, text = key.split("|", 1)
        start, end = (int(x) for x in span.split(":"))
        return target_features(text, start, end, gazetteer)

    return fit_linear(
        keyed,
        [r.label for r in rows],
        featurize,
        c=C_TARGET,
        min_count=3,
        folds=3,
        class_weight="balanced",
        calibrate=calibrate,
        meta=dict(meta),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--cache", type=Path, default=CACHE, help="句向量缓存文件")
    args = parser.parse_args()
    data = load(args.shared)
    gazetteer = Gazetteer.default()
    sources = ["sentiment_finfe (BBT-FinCUGE FinFE)", "sentiment_cfsc_absa (CFSC-ABSA)"]
    rows = [(t, y) for t, y, _, _ in data.sentences]
    sentence = train_sentence(
        rows,
        gazetteer,
        VectorCache(args.cache, DEFAULT_EMBEDDER),
        examples=len(rows),
        sources=sources,
    )
    sentence.save(args.out / "sentiment.npz")
    chars = train_sentence(rows, gazetteer, examples=len(rows), sources=sources)
    chars.save(args.out / "sentiment_chars.npz")
    target = train_target(
        [t for t, _ in data.targets], gazetteer, examples=len(data.targets), sources=sources
    )
    target.save(args.out / "sentiment_target.npz")
    print(f"已写入 {args.out}：句子级 {len(data.sentences)} 条，目标级 {len(data.targets)} 条。")


if __name__ == "__main__":
    main()
