"""Intent routing: a trained classifier over a two-level taxonomy, with keyword rules as features.

The taxonomy and the keyword rules live in ``data/intents.yaml`` (groups: 投资咨询, 供应链金融,
知识问答, 问候闲聊, 必须转人工). :meth:`IntentRouter.default` loads the packaged model
(``data/models/intent.npz``, built by ``python -m finassist.nlp.train_intent``); its probabilities
are calibrated, and below the model's threshold the router answers ``unknown``. A router built
without a model (:meth:`IntentRouter.rules_only`) scores intents by keyword weights alone.

>>> router = IntentRouter.default()
>>> router.classify("华东汽车最近的现金流怎么样").name
'cashflow'
>>> router.classify("茅台还能拿吗").label
'个股问询'
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from finassist.nlp.features import text_features
from finassist.nlp.gazetteer import Gazetteer
from finassist.nlp.linear import LinearModel

UNKNOWN = "unknown"
UNKNOWN_LABEL = "未识别"
DEFAULT_THRESHOLD = 0.5
MODEL_RESOURCE = "data/models/intent.npz"


@dataclass(frozen=True)
class IntentSpec:
    """One intent as the data file defines it."""

    name: str
    label: str
    scenario: str
    needs_enterprise: bool
    keywords: dict[str, float]
    group: str = ""


@dataclass(frozen=True)
class Intent:
    """The router's verdict.

    ``score`` is the calibrated probability of ``name`` (0 for ``unknown``: nothing is claimed);
    ``confidence`` is the same probability, or for ``unknown`` how sure the router is that the
    message is none of its intents. ``matched`` are the keywords of ``name`` found in the text;
    ``alternatives`` the three most likely intents with their probabilities.
    """

    name: str
    label: str
    score: float
    confidence: float
    matched: tuple[str, ...]
    needs_enterprise: bool
    group: str = ""
    alternatives: tuple[tuple[str, float], ...] = ()


class IntentRouter:
    """Classifies a message into one intent of the taxonomy (or ``unknown``)."""

    def __init__(
        self,
        specs: list[IntentSpec],
        *,
        groups: dict[str, str] | None = None,
        model: LinearModel | None = None,
        gazetteer: Gazetteer | None = None,
        threshold: float | None = None,
    ) -> None:
        self.specs = specs
        self.by_name = {spec.name: spec for spec in specs}
        self.groups = groups or {}
        self.model = model
        self.gazetteer = gazetteer
        if model is not None and gazetteer is None:
            raise ValueError(
                "a model-backed router needs the gazetteer its features were built with"
            )
        meta_threshold = model.meta.get("threshold") if model is not None else None
        self.threshold = float(threshold or meta_threshold or DEFAULT_THRESHOLD)

    @classmethod
    def from_mapping(
        cls,
        data: dict[str, Any],
        *,
        model: LinearModel | None = None,
        gazetteer: Gazetteer | None = None,
        threshold: float | None = None,
    ) -> IntentRouter:
        """Build from the parsed YAML structure ``{"groups": {...}, "intents": {name: {...}}}``."""
        specs = [
            IntentSpec(
                name=name,
                label=str(body["label"]),
                scenario=str(body["scenario"]),
                needs_enterprise=bool(body["needs_enterprise"]),
                keywords={str(k): float(v) for k, v in body["keywords"].items()},
                group=str(body.get("group", "")),
            )
            for name, body in data["intents"].items()
        ]
        groups = {str(k): str(v) for k, v in (data.get("groups") or {}).items()}
        return cls(specs, groups=groups, model=model, gazetteer=gazetteer, threshold=threshold)

    @classmethod
    def default(cls) -> IntentRouter:
        """The packaged taxonomy with the packaged trained model (loaded once per process)."""
        return _default_router()

    @classmethod
    def rules_only(cls) -> IntentRouter:
        """The packaged taxonomy scored by keyword rules alone (no model file needed)."""
        return cls.from_mapping(load_taxonomy())

    # -- rules -------------------------------------------------------------------------------------

    def keywords(self) -> set[str]:
        """Every keyword of every intent (the assistant strips them to find a company name)."""
        return {kw for spec in self.specs for kw in spec.keywords}

    def keyword_scores(self, text: str) -> dict[str, float]:
        """Sum of matched keyword weights per intent (intents with no match are left out)."""
        out: dict[str, float] = {}
        for spec in self.specs:
            score = sum(w for kw, w in spec.keywords.items() if kw in text)
            if score > 0:
                out[spec.name] = score
        return out

    def keyword_hits(self, text: str) -> list[str]:
        """The intents whose keywords appear in ``text`` (a feature of the trained model)."""
        return list(self.keyword_scores(text))

    def features(self, text: str) -> dict[str, float]:
        """The model's features of ``text`` (needs the gazetteer)."""
        gazetteer = self.gazetteer or Gazetteer.default()
        return text_features(text, gazetteer, self.keyword_hits)

    # -- classification ----------------------------------------------------------------------------

    def probabilities(self, text: str) -> dict[str, float]:
        """Calibrated probability of every class the model knows (``unknown`` included)."""
        if self.model is None:
            scores = self.keyword_scores(text)
            total = sum(scores.values())
            if not total:
                return {UNKNOWN: 1.0}
            return {name: score / total for name, score in scores.items()}
        proba = self.model.predict_proba(self.features(text))
        return {name: float(p) for name, p in zip(self.model.classes, proba, strict=True)}

    def classify(self, text: str) -> Intent:
        """The most likely intent for ``text``; ``unknown`` when unsure (below the threshold)."""
        if self.model is None:
            return self._classify_rules(text)
        proba = self.probabilities(text)
        ranked = sorted(proba.items(), key=lambda kv: kv[1], reverse=True)
        alternatives = tuple((name, round(p, 3)) for name, p in ranked[:3])
        name, p = ranked[0]
        spec = self.by_name.get(name)
        if spec is None or p < self.threshold:
            in_scope = max((q for n, q in proba.items() if n in self.by_name), default=0.0)
            return Intent(
                UNKNOWN, UNKNOWN_LABEL, 0.0, round(1.0 - in_scope, 3), (), False, "", alternatives
            )
        return Intent(
            name=spec.name,
            label=spec.label,
            score=round(p, 3),
            confidence=round(p, 3),
            matched=tuple(kw for kw in spec.keywords if kw in text),
            needs_enterprise=spec.needs_enterprise,
            group=spec.group,
            alternatives=alternatives,
        )

    def _classify_rules(self, text: str) -> Intent:
        best: tuple[float, IntentSpec, tuple[str, ...]] | None = None
        total = 0.0
        for spec in self.specs:
            matched = tuple(kw for kw in spec.keywords if kw in text)
            score = sum(spec.keywords[kw] for kw in matched)
            total += score
            if score > 0 and (best is None or score > best[0]):
                best = (score, spec, matched)
        if best is None:
            return Intent(UNKNOWN, UNKNOWN_LABEL, 0.0, 0.0, (), False)
        score, spec, matched = best
        return Intent(
            name=spec.name,
            label=spec.label,
            score=score,
            confidence=round(score / total, 3),
            matched=matched,
            needs_enterprise=spec.needs_enterprise,
            group=spec.group,
        )

    def label_of(self, name: str) -> str:
        """The Chinese label of an intent name (``未识别`` for unknown)."""
        spec = self.by_name.get(name)
        return spec.label if spec else UNKNOWN_LABEL


def load_taxonomy() -> dict[str, Any]:
    """The parsed ``data/intents.yaml``."""
    text = resources.files("finassist.nlp").joinpath("data/intents.yaml").read_text("utf-8")
    return dict(yaml.safe_load(text))


@lru_cache(maxsize=1)
def _default_router() -> IntentRouter:
    model = LinearModel.load(resources.files("finassist.nlp").joinpath(MODEL_RESOURCE))
    return IntentRouter.from_mapping(load_taxonomy(), model=model, gazetteer=Gazetteer.default())
