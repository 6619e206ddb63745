"""Financial sentiment (积极 / 中性 / 消极) of news, announcements and investor posts.

Two small linear models trained by :mod:`finassist.nlp.train_sentiment`: one for the whole text,
one for a target inside it (which company the text is negative about). Names the gazetteer knows
are masked before n-grams are taken, so the models learn wording, not names.

>>> analyzer = SentimentAnalyzer.default()
>>> analyzer.analyze("公司业绩大幅预增，股价涨停").label
'积极'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from finassist.errors import InvalidInput
from finassist.nlp.features import text_features
from finassist.nlp.gazetteer import Gazetteer
from finassist.nlp.linear import LinearModel

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


def sentence_features(text: str, gazetteer: Gazetteer) -> dict[str, float]:
    """Features of a whole text for the sentence model."""
    return text_features(text, gazetteer)


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
        self, model: LinearModel, gazetteer: Gazetteer, target_model: LinearModel | None = None
    ) -> None:
        self.model = model
        self.gazetteer = gazetteer
        self.target_model = target_model

    @classmethod
    def default(cls) -> SentimentAnalyzer:
        """The packaged models (loaded once per process)."""
        return _default_analyzer()

    def analyze(self, text: str) -> Sentiment:
        """The sentiment of ``text`` as a whole."""
        if not text.strip():
            raise InvalidInput("文本为空：请提供要分析情感的新闻、公告或评论。")
        proba = self.model.predict_proba(sentence_features(text, self.gazetteer))
        scores = {c: round(float(p), 3) for c, p in zip(self.model.classes, proba, strict=True)}
        label = max(scores, key=scores.__getitem__)
        return Sentiment(label, scores[label], scores)

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
    target = LinearModel.load(root.joinpath(TARGET_MODEL_RESOURCE))
    return SentimentAnalyzer(model, Gazetteer.default(), target)
