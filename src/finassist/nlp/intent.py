"""A first, rule-based intent router: weighted keywords from ``data/intents.yaml``.

>>> router = IntentRouter.default()
>>> router.classify("华东汽车最近的现金流怎么样").name
'cashflow'
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

UNKNOWN = "unknown"


@dataclass(frozen=True)
class IntentSpec:
    """One intent as the data file defines it."""

    name: str
    label: str
    scenario: str
    needs_enterprise: bool
    keywords: dict[str, float]


@dataclass(frozen=True)
class Intent:
    """The router's verdict: the intent, its score and the keywords that decided it."""

    name: str
    label: str
    score: float
    confidence: float
    matched: tuple[str, ...]
    needs_enterprise: bool


class IntentRouter:
    """Scores every intent by the weights of its keywords present in the message."""

    def __init__(self, specs: list[IntentSpec]) -> None:
        self.specs = specs
        self.by_name = {spec.name: spec for spec in specs}

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> IntentRouter:
        """Build from the parsed YAML structure ``{"intents": {name: {...}}}``."""
        specs = [
            IntentSpec(
                name=name,
                label=str(body["label"]),
                scenario=str(body["scenario"]),
                needs_enterprise=bool(body["needs_enterprise"]),
                keywords={str(k): float(v) for k, v in body["keywords"].items()},
            )
            for name, body in data["intents"].items()
        ]
        return cls(specs)

    @classmethod
    def default(cls) -> IntentRouter:
        """The router defined by the packaged ``intents.yaml`` (parsed once per process)."""
        return _default_router()

    def keywords(self) -> set[str]:
        """Every keyword of every intent (the assistant strips them to find a company name)."""
        return {kw for spec in self.specs for kw in spec.keywords}

    def classify(self, text: str) -> Intent:
        """The best intent for ``text``; ``unknown`` with score 0 when no keyword matches."""
        best: tuple[float, IntentSpec, tuple[str, ...]] | None = None
        total = 0.0
        for spec in self.specs:
            matched = tuple(kw for kw in spec.keywords if kw in text)
            score = sum(spec.keywords[kw] for kw in matched)
            total += score
            if score > 0 and (best is None or score > best[0]):
                best = (score, spec, matched)
        if best is None:
            return Intent(UNKNOWN, "未识别", 0.0, 0.0, (), False)
        score, spec, matched = best
        return Intent(
            name=spec.name,
            label=spec.label,
            score=score,
            confidence=round(score / total, 3),
            matched=matched,
            needs_enterprise=spec.needs_enterprise,
        )


@lru_cache(maxsize=1)
def _default_router() -> IntentRouter:
    text = resources.files("finassist.nlp").joinpath("data/intents.yaml").read_text("utf-8")
    return IntentRouter.from_mapping(yaml.safe_load(text))
