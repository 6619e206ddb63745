"""A small hand-written polarity lexicon for financial text, as features of the sentiment model.

Character n-grams learn the wording of their training source; a lexicon carries over to text the
model never saw: 套牢, 割肉, 没跑 and 亏 say 消极 in an investor post as in a news report. The
lexicon (``data/sentiment_lexicon.yaml``) gives words a sign; a negator just before a word flips
it (不涨, 没跌). The model gets counts, not words, so their weights are learned on whatever data
it is trained on and apply to every word of the list alike. The last clause is counted apart:
investors end with the verdict (涨停赚钱没跑，亏1万了).

>>> lexicon = Lexicon.default()
>>> [(h.word, h.sign) for h in lexicon.hits("没跌，但亏了")]
[('跌', 1), ('亏', -1)]
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

from finassist.nlp.normalize import fold_width

LEXICON_RESOURCE = "data/sentiment_lexicon.yaml"
PREFIX = "X:"
NEGATION_GAP = 1  # a negator may stand this many characters before the word: 不会大涨
_CLAUSE = re.compile(r"[，,。；;！!？?\n…~～]+")


@dataclass(frozen=True)
class Hit:
    """One lexicon word found in a text, with its sign after negation."""

    word: str
    start: int
    sign: int


class Lexicon:
    """Positive and negative words and negators; longest word at a position wins."""

    def __init__(self, positive: list[str], negative: list[str], negators: list[str]) -> None:
        self.signs = {w: 1 for w in positive}
        self.signs.update({w: -1 for w in negative})
        self.negators = tuple(sorted(negators, key=len, reverse=True))
        self.longest = max(map(len, self.signs), default=1)

    @classmethod
    def default(cls) -> Lexicon:
        """The packaged lexicon (loaded once per process)."""
        return _default_lexicon()

    def _negated(self, text: str, start: int) -> bool:
        for gap in range(min(NEGATION_GAP, start) + 1):
            end = start - gap
            if end > 0 and any(text.endswith(n, 0, end) for n in self.negators):
                return True
        return False

    def hits(self, text: str) -> list[Hit]:
        """The lexicon words of ``text`` left to right, each with its (possibly flipped) sign."""
        out: list[Hit] = []
        i = 0
        while i < len(text):
            for size in range(min(self.longest, len(text) - i), 0, -1):
                word = text[i : i + size]
                sign = self.signs.get(word)
                if sign is not None:
                    if self._negated(text, i):
                        sign = -sign
                    out.append(Hit(word, i, sign))
                    i += size
                    break
            else:
                i += 1
        return out

    def features(self, text: str) -> dict[str, float]:
        """``X:pos``/``X:neg`` (log counts) over the text and over its last clause, and
        ``X:net`` (the sign of the balance, for each of the two)."""
        clean = fold_width(text).strip()
        clauses = [c for c in _CLAUSE.split(clean) if c.strip()]
        last = clauses[-1] if clauses else clean
        feats: dict[str, float] = {}
        for scope, part in (("all", clean), ("last", last)):
            signs = [h.sign for h in self.hits(part)]
            pos, neg = signs.count(1), signs.count(-1)
            if pos:
                feats[f"{PREFIX}{scope}:pos"] = math.log1p(pos)
            if neg:
                feats[f"{PREFIX}{scope}:neg"] = math.log1p(neg)
            if pos != neg:
                feats[f"{PREFIX}{scope}:net"] = 1.0 if pos > neg else -1.0
        return feats


@lru_cache(maxsize=1)
def _default_lexicon() -> Lexicon:
    raw = yaml.safe_load(
        resources.files("finassist.nlp").joinpath(LEXICON_RESOURCE).read_text("utf-8")
    )
    return Lexicon(
        [str(w) for w in raw["positive"]],
        [str(w) for w in raw["negative"]],
        [str(w) for w in raw["negators"]],
    )
