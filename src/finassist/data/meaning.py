"""When two chat utterances that embed close still say different things.

An embedding puts "账期是90天" and "账期是60天" at cosine 0.98: same topic, different fact. So
semantic dedup lets embeddings only *propose* a merge, and two texts merge only when their
:class:`Facts` are equal:

- quantities: numbers with their units, amounts and dates, normalised (500万 = 5,000,000 = 五百万,
  3月5日 = 三月五日, 百分之五 = 5%), compared as sets (a reply that says "30天" twice says
  what it says once; list markers "1." are no quantity);
- contrast words: on each axis of ``data/contrasts.yaml`` (提前/延期, 增加/减少, 上调/下调,
  开通/关闭 ...), the sides a text uses;
- negation: the markers 不/没/未/无 ... outside A-not-A questions (能不能, 有没有) and words that
  do not negate (不过, 非常);
- names: the financial entities :mod:`finassist.nlp.ner` finds (stocks, funds, indices,
  companies, industries, regions, indicators: 贵州茅台 / 五粮液, 营收 / 净利润), by their
  canonical name.

Equality is transitive, so clusters grown from allowed links never join two texts whose facts
differ.

>>> guard = load_guard()
>>> guard.difference(guard.facts("账期是90天"), guard.facts("账期是60天"))
'数字不同：90天 / 60天'
>>> guard.facts("贷款500万") == guard.facts("贷款五百万元") == guard.facts("贷款5,000,000")
True
>>> guard.difference(guard.facts("能不能开发票"), guard.facts("能开发票吗")) is None
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from finassist.nlp.ner import EntityRecognizer
from finassist.numerals import chinese_numeral

# Entity types whose names must be equal (amounts, percents and dates are quantities; person
# names are masked before dedup).
NAME_TYPES = frozenset(
    ("company", "stock", "index", "fund", "fund_company", "industry", "indicator", "market",
     "region", "macro", "commodity")
)  # fmt: skip

_FULL_WIDTH = str.maketrans("０１２３４５６７８９．％，", "0123456789.%,")
_CN_NUMERAL = re.compile(
    r"(百分之)?([零〇一二两三四五六七八九十百千万亿]+(?:点[零〇一二两三四五六七八九]+)?)"
)
_CN_DIGITS = set("零〇一二两三四五六七八九")
_CN_MULTIPLIERS = set("十百千万亿")
_POSITIONAL = str.maketrans("零〇一二三四五六七八九", "00123456789")
# Units after a number, longest first; the value is the unit compared (money units compare as
# a bare number: 500万 = 500万元 = 5000000).
_UNITS = {
    "个工作日": "个工作日", "工作日": "个工作日", "个小时": "小时", "小时": "小时", "分钟": "分钟",
    "个百分点": "%", "百分点": "%", "个点": "%", "%": "%", "点钟": "点", "点半": "点半",
    "个月": "个月", "星期": "周", "礼拜": "周", "块钱": "", "元": "", "块": "", "天": "天",
    "日": "日", "号": "日", "月": "月", "年": "年", "周": "周", "秒": "秒", "笔": "笔", "次": "次",
    "期": "期", "倍": "倍", "折": "折", "成": "成", "岁": "岁", "家": "家", "张": "张", "户": "户",
    "人": "人", "份": "份", "条": "条", "股": "股", "手": "手", "单": "单", "点": "点",
}  # fmt: skip
_UNIT_PATTERN = "|".join(sorted((re.escape(u) for u in _UNITS), key=len, reverse=True))
_MULTIPLIER = {"百": 100, "千": 1000, "k": 1000, "万": 10**4, "w": 10**4, "亿": 10**8}
_NUMBER = re.compile(
    r"(?<![A-Za-z0-9.])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?\s*"
    r"((?:[百千万亿]|[wWkK](?![A-Za-z]))*)\s*(" + _UNIT_PATTERN + r")?"
)
_DATES = (
    (re.compile(r"(?<!\d)(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?"), "{}年{}月{}日"),
    (re.compile(r"(?<!\d)(\d{4})\s*年\s*(\d{1,2})\s*月"), "{}年{}月"),
    (re.compile(r"(?<![\d.])(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?"), "{}月{}日"),
)  # fmt: skip
_MAYBE_NUMBER = re.compile(r"[0-9０-９零〇一二两三四五六七八九十百千万亿]")
_A_NOT_A = re.compile(r"(.)[不没]\1")
_LIST_MARKER = re.compile(r"^\s*\d{1,2}\s*[.、)）]\s*", re.MULTILINE)


@dataclass(frozen=True, order=True)
class Quantity:
    """A number with its unit (``value`` canonical, e.g. ``5000000``), or a date."""

    value: str
    unit: str = ""

    def __str__(self) -> str:
        if self.unit == "date":
            return self.value
        number = Decimal(self.value)
        shown = f"{number:,f}" if abs(number) >= 10_000 else self.value
        return shown + self.unit


@dataclass(frozen=True)
class Facts:
    """What must be equal for two texts to merge; ``words`` are (axis, side) pairs."""

    quantities: tuple[Quantity, ...] = ()
    words: tuple[tuple[int, int], ...] = ()
    negations: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    shown_words: dict[tuple[int, int], str] = field(default_factory=dict, compare=False)

    def __hash__(self) -> int:
        return hash((self.quantities, self.words, self.negations, self.names))


class MeaningGuard:
    """Extracts :class:`Facts` and says why two texts' facts differ (``contrasts.yaml``)."""

    def __init__(
        self,
        axes: list[list[list[str]]],
        negation: list[str],
        not_negation: list[str],
        recognizer: EntityRecognizer | None = None,
    ) -> None:
        self._recognizer = recognizer
        self._side: dict[str, tuple[int, int]] = {}
        for a, sides in enumerate(axes):
            for s, words in enumerate(sides):
                for word in words:
                    self._side[str(word)] = (a, s)
        self._axes = axes
        by_length = sorted(self._side, key=len, reverse=True)
        self._words = re.compile("|".join(re.escape(w) for w in by_length)) if by_length else None
        self._negation = set(negation)
        skip = sorted(not_negation, key=len, reverse=True)
        self._not_negation = re.compile("|".join(re.escape(w) for w in skip)) if skip else None

    # -- extraction --------------------------------------------------------------------------

    def facts(self, text: str) -> Facts:
        """The quantities, contrast words and negations of ``text``."""
        text = text.translate(_FULL_WIDTH)
        quantities = tuple(sorted(set(quantities_in(text))))
        words: set[tuple[int, int]] = set()
        shown: dict[tuple[int, int], str] = {}
        rest = text
        if self._words is not None:
            for match in self._words.finditer(text):
                side = self._side[match.group(0)]
                words.add(side)
                shown.setdefault(side, match.group(0))
            rest = self._words.sub(" ", text)
        if self._not_negation is not None:
            rest = self._not_negation.sub(" ", rest)
        rest = _A_NOT_A.sub(" ", rest)
        negations = tuple(sorted({c for c in rest if c in self._negation}))
        return Facts(quantities, tuple(sorted(words)), negations, self._names(text), shown)

    def _names(self, text: str) -> tuple[str, ...]:
        if self._recognizer is None or not text.strip():
            return ()
        found = {
            e.canonical or e.text for e in self._recognizer.recognize(text) if e.type in NAME_TYPES
        }
        return tuple(sorted(found))

    # -- comparison --------------------------------------------------------------------------

    def difference(self, a: Facts, b: Facts) -> str | None:
        """Why ``a`` and ``b`` must not merge, in Chinese (``数字不同：90天 / 60天``); None if
        they may."""
        reasons: list[str] = []
        if a.quantities != b.quantities:
            left, right = set(a.quantities), set(b.quantities)
            reasons.append(f"数字不同：{_listed(left - right)} / {_listed(right - left)}")
        if a.words != b.words:
            axes = sorted({w[0] for w in set(a.words) ^ set(b.words)})
            for axis in axes:
                left_words = [
                    a.shown_words.get(w) or self._name(w) for w in a.words if w[0] == axis
                ]
                right_words = [
                    b.shown_words.get(w) or self._name(w) for w in b.words if w[0] == axis
                ]
                reasons.append(
                    f"关键词不同：{'、'.join(left_words) or '—'} / {'、'.join(right_words) or '—'}"
                )
        if a.names != b.names:
            left, right = set(a.names), set(b.names)
            reasons.append(
                f"名称不同：{'、'.join(sorted(left - right)) or '—'} / "
                f"{'、'.join(sorted(right - left)) or '—'}"
            )
        if a.negations != b.negations:
            reasons.append(
                f"否定不同：{''.join(a.negations) or '—'} / {''.join(b.negations) or '—'}"
            )
        return "；".join(reasons) or None

    def _name(self, side: tuple[int, int]) -> str:
        return str(self._axes[side[0]][side[1]][0])


def _listed(items: set[Quantity]) -> str:
    return "、".join(str(q) for q in sorted(items)) or "—"


@lru_cache(maxsize=1)
def load_guard() -> MeaningGuard:
    """The guard over the packaged word lists (``data/contrasts.yaml``) and the packaged
    entity gazetteers, loaded once."""
    text = resources.files("finassist.data").joinpath("data/contrasts.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text) or {}
    return MeaningGuard(
        data.get("axes", []),
        data.get("negation", []),
        data.get("not_negation", []),
        EntityRecognizer.default(),
    )


# -- quantities ------------------------------------------------------------------------------------


def _arabic_numerals(text: str) -> str:
    """Chinese numerals that are numbers (a multiplier, several digits, a unit after, 百分之)
    rewritten in digits: 五百万 -> 5000000, 三个月 -> 3个月, 百分之五 -> 5%. A lone digit
    without a unit (一下, 统一) and words that start with a multiplier (千万不要, 万一) stay."""

    def rewrite(match: re.Match[str]) -> str:
        percent, run = match.groups()
        after = text[match.end() : match.end() + 4]
        if percent:
            value = chinese_numeral(run)
            return match.group(0) if value is None else f"{_plain(value)}%"
        if run[0] in "百千万亿":
            return run
        if run == "十" and after.startswith("分") and not after.startswith("分钟"):
            return run  # 十分 (very)
        if run == "一" and after.startswith("点") and not after.startswith(("点钟", "点半")):
            return run  # 一点 (a little)
        if set(run) <= _CN_DIGITS and len(run) > 1 and "两" not in run:
            return run.translate(_POSITIONAL)  # 二零二四 -> 2024
        has_unit = re.match(_UNIT_PATTERN, after) is not None
        if not (has_unit or set(run) & _CN_MULTIPLIERS):
            return run
        value = chinese_numeral(run)
        return run if value is None else _plain(value)

    return _CN_NUMERAL.sub(rewrite, text)


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def quantities_in(text: str) -> list[Quantity]:
    """The numbers, amounts and dates of ``text``, normalised (see the module docstring)."""
    if not _MAYBE_NUMBER.search(text):  # most chat lines: skip the five passes below
        return []
    text = _LIST_MARKER.sub(" ", _arabic_numerals(text.translate(_FULL_WIDTH)))
    found: list[Quantity] = []
    for pattern, shape in _DATES:

        def date(match: re.Match[str], shape: str = shape) -> str:
            found.append(Quantity(shape.format(*(int(g) for g in match.groups())), "date"))
            return " "

        text = pattern.sub(date, text)
    for match in _NUMBER.finditer(text):
        whole, fraction, multipliers, unit = match.groups()
        value = Decimal(whole.replace(",", "") + (f".{fraction}" if fraction else ""))
        for char in multipliers:
            value *= _MULTIPLIER[char.lower()]
        found.append(Quantity(_plain(value), _UNITS.get(unit or "", "")))
    return found
