"""Intent routing: a trained classifier over a two-level taxonomy, with keyword rules as features.

The taxonomy and the keyword rules live in ``data/intents.yaml`` (groups: 投资咨询, 供应链金融,
知识问答, 问候闲聊, 必须转人工, 客服与账户). :meth:`IntentRouter.default` loads the packaged model
(``data/models/intent.npz``, built by ``python -m finassist.nlp.train_intent``): a linear model
over character n-grams, keyword and gazetteer flags and the message's sentence embedding
(:mod:`finassist.nlp.dense`, loaded on first use). Its probabilities are calibrated, and below the
model's threshold the router answers ``unknown``. Where the embedder cannot be loaded the router
says so once (a logged warning) and uses the packaged character-only model
(``data/models/intent_chars.npz``). A router built without a model
(:meth:`IntentRouter.rules_only`) scores intents by keyword weights alone.

Context gates (``contexts`` in the YAML) keep the investment and the supply-chain intents apart:
in a message about a listed stock or a fund, supply-chain intents cannot win (贵州茅台的主要客户
is 个股问询, not 客户集中度), and the other way round.

>>> router = IntentRouter.default()
>>> router.classify("华东汽车最近的现金流怎么样").name
'cashflow'
>>> router.classify("茅台还能拿吗").label
'个股问询'
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from finassist.nlp.dense import EmbeddingUnavailable, dense_features, query_vector
from finassist.nlp.features import text_features
from finassist.nlp.gazetteer import Gazetteer
from finassist.nlp.linear import LinearModel, ModelError

log = logging.getLogger(__name__)

UNKNOWN = "unknown"
UNKNOWN_LABEL = "未识别"
DEFAULT_THRESHOLD = 0.5
# The character-only model's answer stands at or above this probability. Chosen on messages the
# shipped models never trained on (the test suites' questions and 300 AFQMC questions): at 0.9
# it decided 260 of 768 and agreed with the full model on every one (at 0.85: 1 disagreement).
FAST_CONFIDENCE = 0.9
MODEL_RESOURCE = "data/models/intent.npz"
FALLBACK_RESOURCE = "data/models/intent_chars.npz"
_NUMBER = re.compile(r"\d")
_NOT_WORD = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class ContextGate:
    """A domain a message can plainly speak of, and the intent groups it rules out there."""

    name: str
    markers: tuple[str, ...]
    kinds: frozenset[str]
    excludes: tuple[str, ...]
    unless_numbers: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class IntentSpec:
    """One intent as the data file defines it."""

    name: str
    label: str
    scenario: str
    needs_enterprise: bool
    keywords: dict[str, float]
    group: str = ""
    max_rest: int | None = None  # keywords count only when at most this much else is said
    ignore: tuple[str, ...] = ()  # longer words a keyword hides in (理财 in 理财师, a person)
    cues: tuple[str, ...] = ()  # when set, the intent cannot win unless one of these is said

    def matched(self, text: str) -> tuple[str, ...]:
        """The keywords of this intent in ``text`` (none when too much else is said)."""
        for word in self.ignore:
            text = text.replace(word, " ")
        found = tuple(kw for kw in self.keywords if kw in text)
        if found and self.max_rest is not None:
            rest = text
            for kw in sorted(found, key=len, reverse=True):
                rest = rest.replace(kw, "")
            if len(_NOT_WORD.sub("", rest)) > self.max_rest:
                return ()
        return found


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
        contexts: list[ContextGate] | None = None,
        fallback: LinearModel | None = None,
        fast_confidence: float | None = FAST_CONFIDENCE,
    ) -> None:
        self.specs = specs
        self.contexts = contexts or []
        self.fallback = fallback
        # With a character-only model beside the full one: where it is this sure, its answer
        # stands and the message's sentence vector (about half an offline turn) is not computed.
        self.fast_confidence = fast_confidence
        self._dense_failed = False
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
        self._by_group: dict[str, set[str]] = {}
        for spec in specs:
            self._by_group.setdefault(spec.group, set()).add(spec.name)

    @classmethod
    def from_mapping(
        cls,
        data: dict[str, Any],
        *,
        model: LinearModel | None = None,
        gazetteer: Gazetteer | None = None,
        threshold: float | None = None,
        fallback: LinearModel | None = None,
    ) -> IntentRouter:
        """Build from the parsed YAML structure ``{"groups": {...}, "contexts": {...},
        "intents": {name: {...}}}``."""
        specs = [
            IntentSpec(
                name=name,
                label=str(body["label"]),
                scenario=str(body["scenario"]),
                needs_enterprise=bool(body["needs_enterprise"]),
                keywords={str(k): float(v) for k, v in body["keywords"].items()},
                group=str(body.get("group", "")),
                max_rest=int(body["max_rest"]) if "max_rest" in body else None,
                ignore=tuple(str(w) for w in body.get("ignore") or ()),
                cues=tuple(str(w) for w in body.get("cues") or ()),
            )
            for name, body in data["intents"].items()
        ]
        groups = {str(k): str(v) for k, v in (data.get("groups") or {}).items()}
        contexts = [
            ContextGate(
                name=str(name),
                markers=tuple(str(m) for m in body.get("markers") or ()),
                kinds=frozenset(str(k) for k in body.get("kinds") or ()),
                excludes=tuple(str(g) for g in body.get("excludes") or ()),
                unless_numbers=tuple(str(n) for n in body.get("unless_numbers") or ()),
            )
            for name, body in (data.get("contexts") or {}).items()
        ]
        return cls(
            specs,
            groups=groups,
            model=model,
            gazetteer=gazetteer,
            threshold=threshold,
            contexts=contexts,
            fallback=fallback,
        )

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
            score = sum(spec.keywords[kw] for kw in spec.matched(text))
            if score > 0:
                out[spec.name] = score
        return out

    def keyword_hits(self, text: str) -> list[str]:
        """The intents whose keywords appear in ``text`` (a feature of the trained model),
        leaving out the intents the message's context rules out."""
        excluded = self.excluded(text)
        return [name for name in self.keyword_scores(text) if name not in excluded]

    # -- context gates -----------------------------------------------------------------------------

    def active_contexts(self, text: str) -> list[str]:
        """The contexts (``investment``, ``supply_chain``) whose markers or names ``text`` has."""
        kinds: set[str] = set()
        if any(gate.kinds for gate in self.contexts):
            kinds = {m.kind for m in (self.gazetteer or Gazetteer.default()).find(text)}
        return [
            gate.name
            for gate in self.contexts
            if any(marker in text for marker in gate.markers) or gate.kinds & kinds
        ]

    def excluded(self, text: str) -> set[str]:
        """Intents that cannot win for ``text``: those of the groups its one active context
        rules out (none when no context or several are active)."""
        active = self.active_contexts(text)
        if len(active) != 1:
            return set()
        gate = next(g for g in self.contexts if g.name == active[0])
        out = {name for group in gate.excludes for name in self._by_group.get(group, ())}
        if not _NUMBER.search(text):
            out.update(gate.unless_numbers)
        return out

    def uncued(self, text: str) -> set[str]:
        """Intents asked for only in words (a chart) whose words ``text`` does not have."""
        return {s.name for s in self.specs if s.cues and not any(c in text for c in s.cues)}

    # -- features ----------------------------------------------------------------------------------

    def char_features(self, text: str) -> dict[str, float]:
        """The character-level features of ``text``: n-grams, gazetteer kinds, keyword rules."""
        gazetteer = self.gazetteer or Gazetteer.default()
        return text_features(text, gazetteer, self.keyword_hits)

    def features(
        self, text: str, vector: Any = None, chars: dict[str, float] | None = None
    ) -> dict[str, float]:
        """The model's features of ``text``; with the sentence vector when the model uses one
        (``vector`` given, or computed here). ``chars``: its character features, if known."""
        feats = dict(chars) if chars is not None else self.char_features(text)
        dense = (self.model.meta.get("dense") if self.model is not None else None) or None
        if dense:
            if vector is None:
                vector = query_vector(text, str(dense["embedder"]))
            feats.update(dense_features(vector, float(dense["weight"])))
        return feats

    def _model_proba(self, text: str, excluded: set[str]) -> dict[str, float]:
        assert self.model is not None
        chars = None
        if self.fallback is not None and self.fast_confidence is not None:
            chars = self.char_features(text)
            fast = _kept(self.fallback, self.fallback.predict_proba(chars), excluded)
            if max(fast.values()) >= self.fast_confidence:
                return fast
        if not self._dense_failed:
            try:
                proba = self.model.predict_proba(self.features(text, chars=chars))
                return _kept(self.model, proba, excluded)
            except EmbeddingUnavailable as exc:
                if self.fallback is None:
                    raise ModelError(
                        f"{exc} 意图模型需要句向量，且没有可用的字符特征备用模型。"
                    ) from exc
                log.warning("%s 意图识别改用仅字符特征的备用模型（准确率较低）。", exc)
                self._dense_failed = True
        assert self.fallback is not None
        chars = chars if chars is not None else self.char_features(text)
        return _kept(self.fallback, self.fallback.predict_proba(chars), excluded)

    # -- classification ----------------------------------------------------------------------------

    def probabilities(self, text: str) -> dict[str, float]:
        """Calibrated probability of every class the model knows (``unknown`` included)."""
        if self.model is None:
            excluded = self.excluded(text)
            scores = {n: v for n, v in self.keyword_scores(text).items() if n not in excluded}
            total = sum(scores.values())
            if not total:
                return {UNKNOWN: 1.0}
            return {name: score / total for name, score in scores.items()}
        return self._model_proba(text, self.excluded(text) | self.uncued(text))

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
            matched=spec.matched(text),
            needs_enterprise=spec.needs_enterprise,
            group=spec.group,
            alternatives=alternatives,
        )

    def _classify_rules(self, text: str) -> Intent:
        best: tuple[float, IntentSpec, tuple[str, ...]] | None = None
        total = 0.0
        excluded = self.excluded(text)
        for spec in self.specs:
            if spec.name in excluded:
                continue
            matched = spec.matched(text)
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


def _kept(model: LinearModel, proba: Any, excluded: set[str]) -> dict[str, float]:
    """Each class's probability, renormalised over the intents the context leaves possible."""
    out = {name: float(p) for name, p in zip(model.classes, proba, strict=True)}
    kept = sum(p for name, p in out.items() if name not in excluded)
    if excluded and kept > 0:
        out = {n: (0.0 if n in excluded else p / kept) for n, p in out.items()}
    return out


def load_taxonomy() -> dict[str, Any]:
    """The parsed ``data/intents.yaml``."""
    text = resources.files("finassist.nlp").joinpath("data/intents.yaml").read_text("utf-8")
    return dict(yaml.safe_load(text))


@lru_cache(maxsize=1)
def _default_router() -> IntentRouter:
    root = resources.files("finassist.nlp")
    model = LinearModel.load(root.joinpath(MODEL_RESOURCE))
    fallback = LinearModel.load(root.joinpath(FALLBACK_RESOURCE))
    return IntentRouter.from_mapping(
        load_taxonomy(), model=model, gazetteer=Gazetteer.default(), fallback=fallback
    )
