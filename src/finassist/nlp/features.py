"""Sparse features of a short Chinese text, shared by training scripts and inference.

Names the gazetteer knows are replaced by one placeholder character per kind before character
n-grams are taken, so that ``茅台还能拿吗`` and ``宁德时代还能拿吗`` share their features and a model
learns the pattern, not the list. Keyword rules add one feature per intent they point at.

>>> feats = text_features("茅台还能拿吗", Gazetteer.default())   # doctest: +SKIP
>>> "G:stock" in feats                                            # doctest: +SKIP
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from finassist.nlp.gazetteer import Gazetteer
from finassist.nlp.normalize import fold_width

# Private-use characters stand for a gazetteer kind inside the n-gram text.
PLACEHOLDERS = {
    "stock": "\ue001",
    "index": "\ue002",
    "fund": "\ue003",
    "fund_company": "\ue004",
    "sector": "\ue005",
    "industry": "\ue005",
    "concept": "\ue005",
    "market": "\ue006",
    "company": "\ue007",
    "indicator": "\ue008",
    "macro": "\ue009",
    "commodity": "\ue00a",
    "region": "\ue00b",
}
NGRAM_RANGE = (1, 3)
# Before normalisation: a keyword rule or a known name says more than any single n-gram.
KEYWORD_WEIGHT = 3.0
GAZETTEER_WEIGHT = 2.0
MAX_CHARS = 512  # longer texts are cut: the start carries the intent, and cost stays bounded

KeywordHits = Callable[[str], Iterable[str]]


def mask_names(text: str, gazetteer: Gazetteer) -> tuple[str, list[str]]:
    """``text`` with each gazetteer match replaced by its placeholder, and the kinds found."""
    out: list[str] = []
    kinds: list[str] = []
    pos = 0
    for match in gazetteer.find(text):
        out.append(text[pos : match.start])
        out.append(PLACEHOLDERS.get(match.kind, ""))
        kinds.append(match.kind)
        pos = match.end
    out.append(text[pos:])
    return "".join(out), kinds


def text_features(
    text: str,
    gazetteer: Gazetteer,
    keyword_hits: KeywordHits | None = None,
    ngram_range: tuple[int, int] = NGRAM_RANGE,
) -> dict[str, float]:
    """L2-normalised features (binary, rules and names weighted up): char n-grams of the masked text, ``G:kind`` for each
    gazetteer kind present, ``K:intent`` for each intent whose keywords match, a length bucket."""
    clean = fold_width(text).strip()[:MAX_CHARS]
    masked, kinds = mask_names(clean, gazetteer)
    padded = f"^{masked.lower()}$"
    feats: dict[str, float] = {}
    low, high = ngram_range
    for n in range(low, high + 1):
        for i in range(len(padded) - n + 1):
            feats[padded[i : i + n]] = 1.0
    for kind in kinds:
        feats[f"G:{kind}"] = GAZETTEER_WEIGHT
    if keyword_hits is not None:
        for intent in keyword_hits(text):
            feats[f"K:{intent}"] = KEYWORD_WEIGHT
    length = len(clean)
    feats[f"L:{'short' if length <= 4 else 'mid' if length <= 12 else 'long'}"] = 1.0
    norm = math.sqrt(sum(v * v for v in feats.values())) or 1.0
    return {key: value / norm for key, value in feats.items()}
