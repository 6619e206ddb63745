"""Financial sentiment (积极 / 中性 / 消极) of news, announcements and investor posts.

Small linear models trained by :mod:`finassist.nlp.train_sentiment`: one for the whole text,
one for a target inside it (which company the text is negative about). Names the gazetteer knows
are masked before n-grams are taken, so the models learn wording, not names.

The sentence model reads a text three ways: character n-grams, counts of a hand-written polarity
lexicon (:mod:`finassist.nlp.sentiment_lexicon`: 套牢, 割肉, 没跑 ...) and the sentence embedding
of its first :data:`EMBED_CHARS` characters (:mod:`finassist.nlp.dense`, loaded on first use).
The n-grams fit the sources it was trained on; the lexicon and the embedding carry over to text
of other sources. Where the embedder cannot be loaded, the analyzer logs it once and uses the
packaged model without the embedding (``sentiment_chars.npz``).

>>> analyzer = SentimentAnalyzer.default()
>>> analyzer.analyze("公司业绩大幅预增，股价涨停").label
'积极'
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from finassist.errors import InvalidInput
from finassist.nlp.dense import EmbeddingUnavailable, dense_features, query_vector
from finassist.nlp.features import text_features
from finassist.nlp.gazetteer import Gazetteer
from finassist.nlp.linear import LinearModel, ModelError
from finassist.nlp.sentiment_lexicon import Lexicon

log = logging.getLogger(__name__)

LABELS = ("积极", "中性", "消极")
TARGET_KINDS = (
    "company",
    "stock",
    "index",
    "fund",
    "fund_company",
    "industry",
    "sector",
    "concept",
    "market",
)
TARGET_WINDOW = 20  # characters either side of a target that decide its sentiment
RIGHT_WINDOW = 12  # in Chinese news the predicate follows its subject: 万科A大跌8%
_CLAUSE_END = re.compile(r"[，,。；;！!？?\n]")
TARGET_MARK = "\ue0ff"  # outside the range of the feature placeholders (\ue001..)
MODEL_RESOURCE = "data/models/sentiment.npz"
FALLBACK_RESOURCE = "data/models/sentiment_chars.npz"
# The embedding reads the start of a text: a headline or a post's first sentence carries its
# tone, and the cost of embedding a long news item stays that of a short one.
EMBED_CHARS = 64
TARGET_MODEL_RESOURCE = "data/models/sentiment_target.npz"


@dataclass(frozen=True)
class Sentiment:
    """A text's sentiment: label, its calibrated probability and all three probabilities."""

    label: str
    score: float
    scores: dict[str, float]


@dataclass(frozen=True)
class TargetSentiment:
    """Sentiment towards one target (``text[start:end]``)."""

    target: str
    start: int
    end: int
    label: str
    score: float


def target_context(text: str, start: int, end: int, window: int = TARGET_WINDOW) -> str:
    """The clause around a target (at most ``window`` characters either side, not crossing
    a comma or full stop), with the target replaced by one marker character."""
    left = text[max(0, start - window) : start]
    cut = [m.end() for m in _CLAUSE_END.finditer(left)]
    left = left[cut[-1] :] if cut else left
    right = text[end : end + window]
    stop = _CLAUSE_END.search(right)
    right = right[: stop.start()] if stop else right
    return f"{left}{TARGET_MARK}{right}"


def embedding_text(text: str) -> str:
    """The part of ``text`` the sentence embedding reads."""
    return text.strip()[:EMBED_CHARS]


def sentence_features(text: str, gazetteer: Gazetteer, lexicon: Lexicon) -> dict[str, float]:
    """Features of a whole text for the sentence model, without the embedding: character
    n-grams and lexicon counts."""
    feats = text_features(text, gazetteer)
    feats.update(lexicon.features(text))
    return feats


def target_features(text: str, start: int, end: int, gazetteer: Gazetteer) -> dict[str, float]:
    """Features of a target: n-grams of its clause (``T:``), of the words right after it
    (``R:``), and, down-weighted, of the whole sentence."""
    clause = target_context(text, start, end)
    right = clause.split(TARGET_MARK, 1)[1][:RIGHT_WINDOW]
    merged = {f"T:{k}": v for k, v in text_features(clause, gazetteer).items()}
    if right:
        merged.update({f"R:{k}": v for k, v in text_features(right, gazetteer).items()})
    merged.update({k: v * 0.5 for k, v in text_features(text, gazetteer).items()})
    return merged


class SentimentAnalyzer:
    """Sentence-level and target-level sentiment with packaged models."""

    def __init__(
        self,
        model: LinearModel,
        gazetteer: Gazetteer,
        target_model: LinearModel | None = None,
        *,
        lexicon: Lexicon | None = None,
        fallback: LinearModel | None = None,
        embed: Callable[[str], Any] | None = None,
    ) -> None:
        """``embed`` maps a text to its sentence vector (default: the model's embedder; a
        training script passes its cache)."""
        self.model = model
        self.gazetteer = gazetteer
        self.target_model = target_model
        self.lexicon = lexicon or Lexicon.default()
        self.fallback = fallback
        self.embed = embed
        self._dense_failed = False

    @classmethod
    def default(cls) -> SentimentAnalyzer:
        """The packaged models (loaded once per process)."""
        return _default_analyzer()

    def analyze(self, text: str) -> Sentiment:
        """The sentiment of ``text`` as a whole."""
        if not text.strip():
            raise InvalidInput("文本为空：请提供要分析情感的新闻、公告或评论。")
        model, proba = self._sentence_proba(text)
        scores = {c: round(float(p), 3) for c, p in zip(model.classes, proba, strict=True)}
        label = max(scores, key=scores.__getitem__)
        return Sentiment(label, scores[label], scores)

    def _sentence_proba(self, text: str) -> tuple[LinearModel, Any]:
        feats = sentence_features(text, self.gazetteer, self.lexicon)
        dense = self.model.meta.get("dense") or None
        if not dense:
            return self.model, self.model.predict_proba(feats)
        if not self._dense_failed:
            try:
                part = embedding_text(text)
                vector = self.embed(part) if self.embed else query_vector(part, dense["embedder"])
            except EmbeddingUnavailable as exc:
                if self.fallback is None:
                    raise ModelError(
                        f"{exc} 情感模型需要句向量，且没有可用的字符特征备用模型。"
                    ) from exc
                log.warning("%s 情感分析改用不含句向量的备用模型（准确率较低）。", exc)
                self._dense_failed = True
            else:
                feats.update(dense_features(vector, float(dense["weight"])))
                return self.model, self.model.predict_proba(feats)
        assert self.fallback is not None
        return self.fallback, self.fallback.predict_proba(feats)

    def analyze_targets(
        self, text: str, targets: list[tuple[int, int]] | None = None
    ) -> list[TargetSentiment]:
        """Sentiment towards each target span; by default every company, stock, index, fund
        and industry the gazetteer finds in ``text``."""
        if self.target_model is None:
            raise InvalidInput("未加载目标级情感模型，无法分析针对具体公司的情感。")
        if targets is None:
            targets = [
                (m.start, m.end) for m in self.gazetteer.find(text) if m.kind in TARGET_KINDS
            ]
        out = []
        for start, end in targets:
            if not 0 <= start < end <= len(text):
                raise InvalidInput(f"目标位置 {start}-{end} 超出文本范围（长度 {len(text)}）。")
            proba = self.target_model.predict_proba(
                target_features(text, start, end, self.gazetteer)
            )
            k = int(proba.argmax())
            out.append(
                TargetSentiment(
                    text[start:end],
                    start,
                    end,
                    self.target_model.classes[k],
                    round(float(proba[k]), 3),
                )
            )
        return out


@lru_cache(maxsize=1)
def _default_analyzer() -> SentimentAnalyzer:
    root = resources.files("finassist.nlp")
    model = LinearModel.load(root.joinpath(MODEL_RESOURCE))
    fallback = LinearModel.load(root.joinpath(FALLBACK_RESOURCE))
    target = LinearModel.load(root.joinpath(TARGET_MODEL_RESOURCE))
    return SentimentAnalyzer(model, Gazetteer.default(), target, fallback=fallback)
