"""Train the sentiment models shipped in ``data/models/sentiment*.npz`` (deterministic).

Data (read from ``--shared``, never copied into the package; see ``data/models/MODEL_CARD.md``):
FinFE investor posts (``sentiment_finfe``, 积极/中性/消极) and CFSC-ABSA financial news with one
polarity per entity (``sentiment_cfsc_absa``). A sentence of CFSC-ABSA whose entities all share a
polarity gives a sentence-level example (a fixed random sample of :data:`NEWS_SAMPLE` of them:
each needs its sentence embedding); every entity gives a target-level example.

The sentence model is measured source-held-out (``bench/nlp.py``: trained on the posts, tested on
the news, and the other way round); the shipped models are fitted on both sources. Sentence
vectors are cached in ``--cache``, so a second run embeds nothing.

    python -m finassist.nlp.train_sentiment --shared ../shared/data
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from finassist.errors import InvalidInput
from finassist.nlp.dense import DEFAULT_EMBEDDER, VectorCache, dense_features
from finassist.nlp.gazetteer import Gazetteer
from finassist.nlp.linear import LinearModel
from finassist.nlp.sentiment import embedding_text, sentence_features, target_features
from finassist.nlp.sentiment_lexicon import Lexicon
from finassist.nlp.training import fit_linear, stratified_split

OUT_DIR = Path(__file__).parent / "data" / "models"
POLARITY = {"positive": "积极", "neutral": "中性", "negative": "消极"}
# Strong regularisation: on a source it was not trained on, C=1 beat C=10 in both directions
# (the n-grams of one source are memorised less).
C_SENTENCE = 1.0
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


def train_sentence(
    rows: list[tuple[str, str]],
    gazetteer: Gazetteer,
    cache: VectorCache | None = None,
    *,
    calibrate: bool = True,
    **meta: object,
) -> LinearModel:
    """Fit the sentence model on (text, label) rows; with ``cache``, over the sentence
    embedding too (``calibrate=False``: skip the temperature)."""
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

    return fit_linear(
        texts,
        [r[1] for r in rows],
        featurize,
        c=C_SENTENCE,
        min_count=3,
        folds=3,
        class_weight="balanced",
        calibrate=calibrate,
        meta=dict(meta),
    )


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
