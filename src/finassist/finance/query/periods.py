"""The Chinese time grammar: a phrase in a question -> an explicit date range and its label.

Everything is relative to the data's as-of date, never the wall clock. A calendar month is a
calendar month ("9月份" is September), never "the last 9 months".

>>> p = parse_period("他们9月份的收支情况", date(2026, 10, 31))
>>> (p.start, p.end, p.label)
(datetime.date(2026, 9, 1), datetime.date(2026, 9, 30), '2026年9月')
>>> parse_period("近三个月", date(2026, 10, 31)).relative
{'months': 3}
>>> parse_period("今年以来", date(2026, 10, 31)).label
'2026年以来'
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from finassist.numerals import chinese_numeral

_N = r"(\d+|[零一二两三四五六七八九十]+)"
_MONTH_N = r"(\d{1,2}|十[一二]?|[一二三四五六七八九])"
_YEAR = r"(\d{4}|今|去|前|明)年"
_SEP = r"(?:到|至|-|~|－|—)"
MAX_MONTHS = 24
MAX_DAYS = 730


@dataclass(frozen=True)
class Period:
    """An inclusive date range with the label an answer states (``2026年9月``).

    ``relative`` is ``{"months": n}`` / ``{"days": n}`` for "the last n ..." windows (what the
    older handlers take), empty for calendar periods. ``span`` is where the phrase was found.
    """

    start: date
    end: date
    label: str
    relative: dict[str, int] = field(default_factory=dict, compare=False)
    span: tuple[int, int] = field(default=(0, 0), compare=False)

    @property
    def text(self) -> str:
        """``2026年9月（2026-09-01 至 2026-09-30）``: what an answer says it computed."""
        return f"{self.label}（{self.start.isoformat()} 至 {self.end.isoformat()}）"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def shifted(self, how: str) -> Period:
        """The period to compare with: ``previous`` (环比: the same length just before) or
        ``year_ago`` (同比 / 去年同期: the same dates a year earlier)."""
        if how == "year_ago":
            start, end = _minus_year(self.start), _minus_year(self.end)
            return Period(start, end, "去年同期")
        if "季度" in self.label and self.start.day == 1 and self.start.month % 3 == 1:
            # 本季度 (to date) against 上季度: the whole calendar quarter before
            start = _from_index(_month_index(self.start) - 3)
            return Period(start, _month_end(_from_index(_month_index(start) + 2)), "上一季度")
        if _whole_months(self):
            months = _month_index(self.end) - _month_index(self.start) + 1
            start = _from_index(_month_index(self.start) - months)
            end = _month_end(_from_index(_month_index(self.start) - 1))
        else:
            end = self.start - timedelta(days=1)
            start = end - timedelta(days=self.days - 1)
        return Period(start, end, "上一期")

    def to_json(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "label": self.label}


@dataclass(frozen=True)
class TimeReading:
    """What the grammar read in a message: the period (if any) and a comparison (if any)."""

    period: Period | None
    compare: str | None  # "previous" (环比) | "year_ago" (同比, 去年同期) | None
    spans: list[tuple[int, int]]
    others: list[Period] = field(default_factory=list)  # 上半年和下半年: the further periods named


# -- date arithmetic ------------------------------------------------------------------------------


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def _from_index(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def _month_end(day: date) -> date:
    return date(day.year, day.month, monthrange(day.year, day.month)[1])


def _minus_year(day: date) -> date:
    return date(day.year - 1, day.month, min(day.day, monthrange(day.year - 1, day.month)[1]))


def _whole_months(period: Period) -> bool:
    return period.start.day == 1 and period.end == _month_end(period.end)


def _number(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    value = chinese_numeral(text)
    return int(value) if value is not None and value == int(value) else None


def _year(token: str | None, as_of: date) -> int | None:
    if token is None:
        return None
    offsets = {"今": 0, "去": -1, "前": -2, "明": 1}
    return as_of.year + offsets[token] if token in offsets else int(token)


def _clamp(start: date, end: date, label: str, as_of: date) -> Period:
    """Stop at the as-of date: there is no data after it; the label says so."""
    if end > as_of >= start:
        return Period(start, as_of, f"{label}（截至{as_of.isoformat()}）")
    return Period(start, end, label)


# -- the rules, tried in order; the first that matches wins -----------------------------------

Rule = Callable[[re.Match[str], date], Period | None]
_RULES: list[tuple[re.Pattern[str], Rule]] = []


def rule(pattern: str) -> Callable[[Rule], Rule]:
    """Register a grammar rule (order of registration is priority)."""

    def wrap(fn: Rule) -> Rule:
        _RULES.append((re.compile(pattern), fn))
        return fn

    return wrap


@rule(
    rf"(?:{_YEAR}|(\d{{4}})年)?{_MONTH_N}月(\d{{1,2}})[日号]?{_SEP}"
    rf"(?:(?:(\d{{4}})年)?{_MONTH_N}月)?(\d{{1,2}})[日号]?"
)
def _day_range(m: re.Match[str], as_of: date) -> Period | None:
    year = _year(m.group(1), as_of) or (int(m.group(2)) if m.group(2) else None)
    month1, day1 = _number(m.group(3)), int(m.group(4))
    year2 = int(m.group(5)) if m.group(5) else None
    month2 = _number(m.group(6)) if m.group(6) else month1
    day2 = int(m.group(7))
    if not month1 or not month2:
        return None
    year = year or (as_of.year if month1 <= as_of.month else as_of.year - 1)
    try:
        start = date(year, month1, day1)
        end = date(year2 or (year if month2 >= month1 else year + 1), month2, day2)
    except ValueError:
        return None
    if end < start:
        return None
    return _clamp(start, end, "指定区间", as_of)


@rule(
    rf"(?:{_YEAR}|(\d{{4}})年)?\s*(?:第?([一二三四1234])\s*(?:季度)?|[Qq]([1-4]))\s*{_SEP}\s*"
    r"(?:第?([一二三四1234])\s*季度|[Qq]([1-4]))"
)
def _quarter_range(m: re.Match[str], as_of: date) -> Period | None:
    """``Q1到Q3`` / ``一到三季度`` / ``第一至第三季度``: whole quarters, first to last."""
    first, last = _number(m.group(3) or m.group(4)), _number(m.group(5) or m.group(6))
    if not first or not last or not 1 <= first < last <= 4:
        return None
    return _quarters(_year(m.group(1), as_of) or _int(m.group(2)), first, last, as_of)


@rule(rf"(?:{_YEAR}|(\d{{4}})年)?\s*前\s*([一二三1-3两])\s*个?季度")
def _first_quarters(m: re.Match[str], as_of: date) -> Period | None:
    """``今年前三季度``: the year's first N quarters (not the last N)."""
    last = _number(m.group(3))
    if not last or not 1 <= last <= 3:
        return None
    return _quarters(_year(m.group(1), as_of) or _int(m.group(2)), 1, last, as_of)


def _int(text: str | None) -> int | None:
    return int(text) if text else None


def _quarters(year: int | None, first: int, last: int, as_of: date) -> Period | None:
    if year is None:
        year = as_of.year if (first - 1) * 3 + 1 <= as_of.month else as_of.year - 1
    start = date(year, (first - 1) * 3 + 1, 1)
    if start > as_of:
        return None
    end = _month_end(date(year, last * 3, 1))
    names = "一二三四"
    span = names[first - 1] if first == last else f"{names[first - 1]}至第{names[last - 1]}"
    return _clamp(start, end, f"{year}年第{span}季度", as_of)


@rule(r"(?:近|最近|过去|这)\s*(半)\s*(?:年|个?年)|(?:近|最近|过去)半年")
def _half_year_back(m: re.Match[str], as_of: date) -> Period | None:
    return _last_months(6, as_of)


@rule(rf"(?:近|最近|过去|这|前)\s*{_N}\s*(个月|个?季度|个?星期|周|天|日|年)(?:内|来|以来)?")
def _last_n(m: re.Match[str], as_of: date) -> Period | None:
    number = _number(m.group(1))
    if not number:
        return None
    return _relative(number, m.group(2), as_of)


@rule(rf"(?:近|最近|过去)\s*{_N}\s*月(?![份\d日号])")
def _last_n_bare_months(m: re.Match[str], as_of: date) -> Period | None:
    """``最近9月``: 个 left out of 最近9个月 (a calendar September is 9月份 or 上个月)."""
    number = _number(m.group(1))
    return _relative(number, "月", as_of) if number and number > 1 else None


@rule(rf"{_N}\s*(个月|个季度)(?:内|以内|以来)?|{_N}\s*(天)(?:内|以内|以来)")
def _n_within(m: re.Match[str], as_of: date) -> Period | None:
    number = _number(m.group(1) or m.group(3))
    return _relative(number, m.group(2) or m.group(4), as_of) if number else None


@rule(r"(?:最近|近|过去)(?:一|1)?(?:整)?年|全年|一整年")
def _last_year_span(m: re.Match[str], as_of: date) -> Period | None:
    if m.group(0) == "全年":
        return None  # 2025年全年 is a calendar year: the year rule reads it
    return _last_months(12, as_of)


@rule(
    r"(?:今年以来|年初以来|年初至今|今年迄今|本年以来|今年到现在|今年至今|本年度|本年累计|今年累计|本年)"
)
def _year_to_date(m: re.Match[str], as_of: date) -> Period | None:
    return Period(date(as_of.year, 1, 1), as_of, f"{as_of.year}年以来")


@rule(
    rf"(?:{_YEAR}|(\d{{4}})年)?\s*{_MONTH_N}\s*(?:月份?)?\s*(?:到|至|-|~|－|—|、|和|与)\s*"
    rf"{_MONTH_N}\s*月份?(?![\d日号])"
)
def _month_range(m: re.Match[str], as_of: date) -> Period | None:
    """``7到9月`` / ``8、9月`` / ``2025年10月至12月``: whole calendar months, first to last."""
    first, last = _number(m.group(3)), _number(m.group(4))
    if not first or not last or not 1 <= first < last <= 12:
        return None
    year = _year(m.group(1), as_of) or (int(m.group(2)) if m.group(2) else None)
    if year is None:
        year = as_of.year if last <= as_of.month else as_of.year - 1
    start = date(year, first, 1)
    if start > as_of:
        return None
    label = f"{year}年{first}月至{last}月"
    return _clamp(start, _month_end(date(year, last, 1)), label, as_of)


@rule(rf"(?:{_YEAR}|(\d{{4}})年)?\s*{_MONTH_N}\s*月份?(?![\d日号])")
def _calendar_month(m: re.Match[str], as_of: date) -> Period | None:
    month = _number(m.group(3))
    if not month or not 1 <= month <= 12:
        return None
    year = _year(m.group(1), as_of) or (int(m.group(2)) if m.group(2) else None)
    if year is None:  # "9月": the latest September up to the data's date
        year = as_of.year if month <= as_of.month else as_of.year - 1
    start = date(year, month, 1)
    if start > as_of:
        return None
    return _clamp(start, _month_end(start), f"{year}年{month}月", as_of)


@rule(rf"(?:{_YEAR}|(\d{{4}})年)?\s*(?:第?([一二三四1234])季度|[Qq]([1-4]))")
def _quarter(m: re.Match[str], as_of: date) -> Period | None:
    quarter = _number(m.group(3) or m.group(4))
    if not quarter:
        return None
    year = _year(m.group(1), as_of) or (int(m.group(2)) if m.group(2) else None)
    return _quarters(year, quarter, quarter, as_of)


@rule(rf"(?:{_YEAR}|(\d{{4}})年)?\s*([上下])半年")
def _half(m: re.Match[str], as_of: date) -> Period | None:
    year = _year(m.group(1), as_of) or (int(m.group(2)) if m.group(2) else as_of.year)
    first = m.group(3) == "上"
    start = date(year, 1 if first else 7, 1)
    if start > as_of:
        year -= 1
        start = date(year, 1 if first else 7, 1)
    end = date(year, 6, 30) if first else date(year, 12, 31)
    return _clamp(start, end, f"{year}年{'上' if first else '下'}半年", as_of)


@rule(r"(本月|这个月|当月|本月份|上个?月|上月份)")
def _this_or_last_month(m: re.Match[str], as_of: date) -> Period | None:
    if m.group(1).startswith("上"):
        start = _from_index(_month_index(as_of) - 1)
        return Period(start, _month_end(start), f"上个月（{start.year}年{start.month}月）")
    start = date(as_of.year, as_of.month, 1)
    return Period(start, as_of, f"本月（{as_of.year}年{as_of.month}月，截至{as_of.isoformat()}）")


@rule(r"(本季度|这个季度|这季度|当季|上个?季度)")
def _this_or_last_quarter(m: re.Match[str], as_of: date) -> Period | None:
    first = date(as_of.year, (as_of.month - 1) // 3 * 3 + 1, 1)
    if m.group(1).startswith("上"):
        start = _from_index(_month_index(first) - 3)
        end = first - timedelta(days=1)
        q = (start.month - 1) // 3 + 1
        return Period(start, end, f"上季度（{start.year}年第{'一二三四'[q - 1]}季度）")
    return Period(first, as_of, f"本季度（截至{as_of.isoformat()}）")


@rule(r"(本周|这周|这个星期|上周|上个星期|上星期)")
def _week(m: re.Match[str], as_of: date) -> Period | None:
    monday = as_of - timedelta(days=as_of.weekday())
    if m.group(1).startswith("上"):
        start = monday - timedelta(days=7)
        return Period(start, start + timedelta(days=6), "上周")
    return Period(monday, as_of, "本周")


@rule(rf"(?:{_YEAR}|(\d{{4}})年)(?:全年|一整年|整年|度)?(?![\d一二三四五六七八九十]*[月季])")
def _calendar_year(m: re.Match[str], as_of: date) -> Period | None:
    year = _year(m.group(1), as_of) or int(m.group(2))
    if date(year, 1, 1) > as_of:
        return None
    if year == as_of.year:
        return Period(date(year, 1, 1), as_of, f"{year}年以来")
    return Period(date(year, 1, 1), date(year, 12, 31), f"{year}年")


def _relative(number: int, unit: str, as_of: date) -> Period | None:
    unit = unit.lstrip("个")
    if unit in ("天", "日"):
        days = min(number, MAX_DAYS)
        return Period(as_of - timedelta(days=days - 1), as_of, f"近{days}天", {"days": days})
    if unit in ("周", "星期"):
        days = min(number * 7, MAX_DAYS)
        return Period(as_of - timedelta(days=days - 1), as_of, f"近{number}周", {"days": days})
    months = number * {"月": 1, "季度": 3, "年": 12}[unit]
    return _last_months(min(months, MAX_MONTHS), as_of)


def _last_months(months: int, as_of: date) -> Period:
    start = _from_index(_month_index(as_of) - (months - 1))
    return Period(start, as_of, f"近{months}个月", {"months": months})


def last_months(months: int, as_of: date) -> Period:
    """The ``months`` calendar months ending with the month of ``as_of`` (the default window)."""
    return _last_months(months, as_of)


# -- the coming period of a question about maturities (下个月到期, 未来30天内到期) -----------------

AHEAD_DEFAULT_DAYS = 30  # 快到期 with no period: the next 30 days, and the label says so
_PAST = r"(?<!近)(?<!过去)(?<!最近)(?<!前)"  # 近3个月 looks back, not ahead
_AHEAD_DAYS = re.compile(rf"(?:未来|接下来|今后|之后|往后)?{_PAST}{_N}\s*(?:天|日)(?:之?内|以内)?")
_AHEAD_MONTHS = re.compile(rf"(?:未来|接下来|今后|之后|往后)?{_PAST}{_N}\s*个月(?:之?内|以内)?")
_AHEAD_NEXT = re.compile(r"下个?(月|季度)")
_AHEAD_THIS_MONTH = re.compile(r"本月|这个月|月底前|月内|当月")
_AHEAD_REST_OF_YEAR = re.compile(r"年底前|年末前|今年剩下|今年剩余")
_AHEAD_THIS_YEAR = re.compile(r"今年内?|年内")
_AHEAD_MONTH = re.compile(rf"(?:(\d{{4}})年)?{_MONTH_N}月")


def read_ahead(text: str, as_of: date) -> Period | None:
    """The period a question about what falls due names, read forward from the as-of date: 下个月,
    下季度, 未来N天 / N天内, N个月内, 年底前 (the rest of the year), 本月 / 今年 (the whole month or
    year), or a calendar month (its next occurrence: 12月 is this December, 3月 next March). None
    when it names none."""
    day = as_of + timedelta(days=1)
    m = _AHEAD_DAYS.search(text)
    if m and (n := _number(m.group(1))):
        n = min(n, MAX_DAYS)
        return Period(day, as_of + timedelta(days=n), f"未来{n}天", span=m.span())
    m = _AHEAD_MONTHS.search(text)
    if m and (n := _number(m.group(1))):
        end = _month_end(_from_index(_month_index(as_of) + min(n, MAX_MONTHS)))
        return Period(day, end, f"未来{n}个月", span=m.span())
    m = _AHEAD_NEXT.search(text)
    if m:
        if m.group(1) == "月":
            start = _from_index(_month_index(as_of) + 1)
            return Period(start, _month_end(start), f"{start.year}年{start.month}月", span=m.span())
        q = (as_of.month - 1) // 3 + 1
        year, q = (as_of.year + 1, 1) if q == 4 else (as_of.year, q + 1)
        start = date(year, 3 * q - 2, 1)
        end = _month_end(date(year, 3 * q, 1))
        return Period(start, end, f"{year}年第{q}季度", span=m.span())
    m = _AHEAD_MONTH.search(text)
    if m and (month := _number(m.group(2))) and 1 <= month <= 12:
        year = int(m.group(1)) if m.group(1) else as_of.year + (month < as_of.month)
        start = date(year, month, 1)
        return Period(start, _month_end(start), f"{year}年{month}月", span=m.span())
    m = _AHEAD_REST_OF_YEAR.search(text)
    if m and as_of < date(as_of.year, 12, 31):
        return Period(day, date(as_of.year, 12, 31), f"{as_of.year}年剩余", span=m.span())
    m = _AHEAD_THIS_MONTH.search(text)
    if m:  # the whole month: what fell due in it and what still will
        start = date(as_of.year, as_of.month, 1)
        return Period(start, _month_end(start), f"{as_of.year}年{as_of.month}月", span=m.span())
    m = _AHEAD_THIS_YEAR.search(text)
    if m:
        start = date(as_of.year, 1, 1)
        return Period(start, date(as_of.year, 12, 31), f"{as_of.year}年", span=m.span())
    return None


def ahead_default(as_of: date) -> Period:
    """The next :data:`AHEAD_DEFAULT_DAYS` days after ``as_of``."""
    days = AHEAD_DEFAULT_DAYS
    return Period(as_of + timedelta(days=1), as_of + timedelta(days=days), f"未来{days}天")


_COMPARE = re.compile(
    r"(同比|去年同期|上年同期|环比|较上个?月|比上个?月|较上个?季度|比上个?季度|较上期|比上期)"
)
# 比上个月增加了多少 with no period named: this month against the last, not 12 months against 12
_IMPLIED = {"月": "本月", "季度": "本季度"}


def read_time(text: str, as_of: date) -> TimeReading:
    """The period and the comparison a message names (either may be absent)."""
    spans: list[tuple[int, int]] = []
    compare = None
    compare_word = ""
    masked = text
    for match in _COMPARE.finditer(text):
        word = match.group(1)
        compare = "year_ago" if ("同" in word) else "previous"
        compare_word = word
        spans.append(match.span())
        masked = masked[: match.start()] + "　" * len(word) + masked[match.end() :]
    periods: list[Period] = []
    while len(periods) < 3:  # the first rule that matches wins; then look again for another
        found = _first_period(masked, as_of)
        if found is None:
            break
        start, end = found.span
        masked = masked[:start] + "　" * (end - start) + masked[end:]
        spans.append(found.span)
        if all((p.start, p.end) != (found.start, found.end) for p in periods):
            periods.append(found)
    implied = next((w for unit, w in _IMPLIED.items() if compare_word.endswith(unit)), None)
    if not periods and implied is not None:
        period = _first_period(implied, as_of)
        if period is not None:
            periods.append(Period(period.start, period.end, period.label, period.relative))
    first = periods[0] if periods else None
    return TimeReading(first, compare, sorted(spans), periods[1:])


def _first_period(text: str, as_of: date) -> Period | None:
    for pattern, fn in _RULES:
        for match in pattern.finditer(text):
            period = fn(match, as_of)
            if period is not None:
                return Period(period.start, period.end, period.label, period.relative, match.span())
    return None


def parse_period(text: str, as_of: date) -> Period | None:
    """The period a message names, or None."""
    return read_time(text, as_of).period


def strip_time(text: str, as_of: date) -> str:
    """``text`` with every time phrase blanked (so it is not read as a company name)."""
    reading = read_time(text, as_of)
    for start, end in sorted(reading.spans, reverse=True):
        text = text[:start] + " " + text[end:]
    return text
