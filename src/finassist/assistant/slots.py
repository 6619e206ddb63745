"""Slots from a message: the time window, pronouns, a clarification's choice, a bare name.

>>> parse_window("最近三个月的现金流")
{'months': 3}
>>> parse_window("过去90天")
{'days': 90}
>>> pick_candidate("第二家", ["华信精工", "华信物流"])
1
"""

from __future__ import annotations

import re
from datetime import date

from finassist.finance.query.periods import parse_period, strip_time
from finassist.numerals import chinese_numeral

# "Last n months" does not depend on the date it is counted from; calendar periods do, and
# parse_window does not return those.
_ANY_DAY = date(2000, 12, 31)

PRONOUNS = (
    "他们家",
    "他们",
    "她们",
    "他家",
    "它们",
    "这家企业",
    "这家公司",
    "这家",
    "该企业",
    "该公司",
    "这个企业",
    "这个公司",
    "此企业",
    "它",
    "其",
)
_ORDINALS = {"一": 0, "1": 0, "二": 1, "2": 1, "三": 2, "3": 2, "四": 3, "4": 3, "五": 4, "5": 4}
_PICK = re.compile(r"^(?:就是|是|选)?(?:第)?([一二三四五12345])(?:个|家|项|号)?(?:吧|。|！)?$")


def chinese_number(text: str) -> int | None:
    """``"十二"`` -> 12, ``"24"`` -> 24; None for anything else."""
    if text.isdigit():
        return int(text)
    value = chinese_numeral(text)
    return int(value) if value is not None and value == int(value) else None


def parse_window(text: str) -> dict[str, int]:
    """``{"months": n}`` or ``{"days": n}`` for a "last n ..." window the message names.

    The one time grammar (finance/query/periods.py) reads it, so a calendar period is never
    taken for a window: ``9月份`` is September (the query layer answers it), not 近9个月.
    """
    period = parse_period(text, _ANY_DAY)
    return dict(period.relative) if period is not None else {}


def window_label(window: dict[str, int]) -> str:
    """``{"months": 12}`` -> ``近12个月``."""
    if "days" in window:
        return f"近{window['days']}天"
    return f"近{window.get('months', 12)}个月"


def has_pronoun(text: str) -> bool:
    """Whether the message refers back to a company already named (他们 / 这家 / 该公司 ...)."""
    return any(p in text for p in PRONOUNS)


def pick_candidate(text: str, names: list[str]) -> int | None:
    """Which of ``names`` the answer to a clarifying question picks, by ordinal or by name."""
    stripped = text.strip(" 。！？?!，,")
    match = _PICK.match(stripped)
    if match:
        index = _ORDINALS[match.group(1)]
        return index if index < len(names) else None
    if stripped in ("前者", "前一个", "上面那个"):
        return 0
    if stripped in ("后者", "后一个", "最后一个", "最后那个") and names:
        return len(names) - 1
    hits = [i for i, name in enumerate(names) if name and (name in text or text in name)]
    return hits[0] if len(hits) == 1 else None


_FILLERS = re.compile(
    r"(请问|请|帮我|帮忙|麻烦|给我|我想|想要|想|查询|查一下|查查|查|看一下|看看|看|了解一下|了解|分析一下|"
    r"分析|一下|出一份|做一份|一份|生成|介绍|说说|告诉我|最近|近期|目前|现在|当前|今年|去年|这个月|上个月|"
    r"怎么样|如何|多少|是多少|有多少|有没有|有哪些|哪些|什么|情况|怎样|吗|呢|吧|啊|呀|的|了|和|与|跟|"
    r"还有|还|再|也|都|那么|那|这|个|是|有|在|没有|能不能|可以|是否|我们|客户|企业|公司|一家|一个|一些|"
    r"融资产品|融资|产品|贷款|业务|按月|逐月|每月|明细|详细|具体|数据|信息|指标|为什么|怎么|为何|能否|需要|"
    r"要|帮|下|给|对|从|把|被|让|及|或|并|最|多|少|大|小|高|低|好|坏|目前为止|一共|总共|合计|列出|列|一览|"
    r"summary|please)"
)
_NAME_RUN = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]{2,}")


def residual_name(text: str, keywords: set[str]) -> str | None:
    """What is left of a message once intent keywords, pronouns, windows and fillers are gone.

    A follow-up such as ``那G企业呢`` leaves ``G``-something: a name to look up. Returns the
    longest remaining run of two or more characters, or None.
    """
    rest = strip_time(text, _ANY_DAY)
    for word in sorted((*keywords, *PRONOUNS), key=len, reverse=True):
        rest = rest.replace(word, " ")
    rest = _FILLERS.sub(" ", rest)
    runs = _NAME_RUN.findall(rest)
    return max(runs, key=len) if runs else None


_COMPANY_MARKERS = ("公司", "集团", "企业", "有限", "厂", "股份")
_SWITCH = re.compile(r"^(?:那|那么|换成|换|再看看|再看|看看)?(.{2,30}?)(?:呢|怎么样|如何)[？?。]*$")


def explicit_company(text: str, keywords: set[str]) -> str | None:
    """A company the user clearly names, even one we do not know (``那G企业呢``).

    ``那最近三个月呢`` names none: what it switches to is a window, not a company.
    """
    match = _SWITCH.match(text.strip())
    if match:
        candidate = match.group(1)
        if residual_name(candidate, keywords) or any(m in candidate for m in _COMPANY_MARKERS):
            return None if has_pronoun(candidate) else candidate
    for marker in _COMPANY_MARKERS:
        found = re.search(
            rf"([\u4e00-\u9fffA-Za-z0-9]{{1,20}}{marker}[\u4e00-\u9fff]{{0,6}})", text
        )
        if found and not has_pronoun(found.group(1)) and residual_name(found.group(1), keywords):
            return found.group(1)
    return None
