"""Quantities in Chinese financial text: value, unit exactly as written, what it measures, when.

A quantity keeps its unit as the text gives it (``160.1亿美元``, ``324万人``, ``8.3%``,
``0.5个百分点``): an amount in 亿美元 is never read as 亿元, and 万人 is never money. Each
quantity carries the words just before it (its *label*, e.g. 其中出口 / 比上年增加), the thing it
measures (its *subject*: 出口; a bare 同比增长5.2% measures what the sentence's previous quantity
measured), its *role* (a level, a change, a growth rate, a share, a rate level, a duration) and
its *period* (2024年, 上年, 年初 ...).

>>> [(q.text, q.role, q.subject) for q in find_quantities("出口160.1亿美元，同比增长5.2%")]
[('160.1亿美元', 'level', '出口'), ('5.2%', 'rate', '出口')]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

SCALES = {"万亿": Decimal(10) ** 12, "亿": Decimal(10) ** 8, "千万": Decimal(10) ** 7,
          "百万": Decimal(10) ** 6, "万": Decimal(10) ** 4, "千": Decimal(1000), "": Decimal(1)}  # fmt: skip
CURRENCIES = ("美元", "港元", "港币", "欧元", "日元", "英镑", "人民币", "元")
COUNTS = ("人次", "人", "户", "家", "辆", "台", "吨", "件", "笔", "张", "套", "平方米", "亩", "桶",
          "条", "头", "只", "箱", "份", "股", "个")  # fmt: skip
DURATIONS = {"天": "天", "日": "天", "个月": "月", "年": "年"}
_BASES = "|".join(sorted(CURRENCIES + COUNTS, key=len, reverse=True))
_NUMBER = r"(?<![\d.])(-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?)"
_QUANTITY = re.compile(
    _NUMBER + r"\s*(?:(个百分点|%|％|‰|倍|天|日|个月|个季度|季度|月|年|号)"
    r"|(万亿|亿|千万|百万|万|千)?(" + _BASES + r")?)"
)
_PERCENT_WORDS = re.compile(r"百分之(\d+(?:\.\d+)?)")
SEPARATORS = "，,。；;：:\n！？?、（）()"
SENTENCE_ENDS = "。！？?\n"
# Words in a label that say when, not what.
_PERIOD = re.compile(
    r"(\d{4})年(?:度|末|底|初|上半年|下半年|前\d+个?月|\d{1,2}月(?:末|底)?|第?[一二三四1-4]季度)?"
    r"|今年|本年|当年|本期|当期|本月|本季度|去年|上年|上一年|前一年|上期|上月|上季度|同期|"
    r"年初|年末|年底|期初|期末|月末|月初|明年|下一年|前年"
)
_CURRENT_WORDS = ("今年", "本年", "当年", "本期", "当期", "本月", "本季度", "年末", "年底", "期末",
                  "月末")  # fmt: skip
_PREVIOUS_WORDS = ("去年", "上年", "上一年", "前一年", "上期", "上月", "上季度", "同期", "年初",
                   "期初", "月初")  # fmt: skip
_FILLER = re.compile(
    r"^(?:其中|全年|全市|全省|全国|全行|该行|该公司|该市|该省|该县|该企业|本市|某市|某省|某县|公司|企业|"
    r"某行|某公司|某企业|实现|共|共计|合计|约|"
    r"累计|完成|的|和|与|及|以及|而|但|且|则|另外|此外|同时)+"
)
_TRAILING = re.compile(r"(?:为|是|达到|达|约|约为|共计|合计|总计|计|有|了|已|增至|降至|至|到)+$")
_GROWTH = re.compile(
    r"(?:比上年|比去年|比上期|比上月|较上年|较去年|较上期|较上月|比年初|较年初|同比|环比|比|较)?"
    r"(?:增长了?|增加了?|上升了?|提高了?|上涨了?|增幅为?|增速为?|增长率为?|下降了?|减少了?|下滑了?|"
    r"回落了?|下跌了?|降低了?|多增|少增|多了?|少了?|新增)$"
)
_DOWN = ("下降", "减少", "下滑", "回落", "下跌", "降低", "少")
_SHARE = ("占比", "占", "比重", "份额", "比例")
_COMPARED = re.compile(
    r"(?:比|较|相比)(?:上年同期|上年|去年同期|去年|上期|上月|上季度|年初|同期|前一年)"
)
_MONEY_WORDS = ("应收账款", "应付账款", "账款", "金额", "票据", "票面", "发票", "融资", "贷款", "收入",
                "利润", "资金", "本金", "额度", "货款", "订单", "汇票", "利息", "成本", "费用", "资产",
                "负债", "余额", "营收", "销售额", "存款", "保费", "投资", "授信")  # fmt: skip
_AFTER = re.compile(r"^的?([\u4e00-\u9fff]{2,8})")
_FROM_TO = re.compile(r"(?:从|由)$|(?:增长到|增加到|上升到|提高到|下降到|减少到|增至|降至|到|至)$")


@dataclass(frozen=True)
class Quantity:
    """A number found in text.

    ``value`` is the number as written (356.2), ``scale`` the multiplier of its unit (10**8
    for 亿), ``base`` the thing counted (元, 美元, 人, %, 个百分点, 倍, 天, 年, or '' for a bare
    number), ``unit`` the unit as written (亿美元). ``role``: level | change | rate | share |
    ratio | pp | times | duration. ``sign`` is -1 when the words say it went down.
    """

    value: Decimal
    scale: Decimal
    base: str
    unit: str
    text: str
    start: int
    end: int
    label: str
    subject: str
    role: str
    period: str
    rank: float | None  # a sortable period: 2024, 2023.5 (年初 2024 is 2023.99), -1 for 上年
    sign: int = 1
    position: str = ""  # 从 (start) / 到 (end) when the words say so
    source: str = ""  # the words that state it, label included: 其中出口160.1亿美元

    @property
    def base_value(self) -> Decimal:
        """The value in base units: 元, 人, a 0..1 ratio for %."""
        if self.base in ("%",):
            return self.value / 100
        if self.base == "‰":
            return self.value / 1000
        return self.value * self.scale

    @property
    def dimension(self) -> str:
        """What can be added to what: the currency, the counted thing, or the kind of ratio."""
        if self.base in ("%", "‰"):
            return "%"
        return self.base

    @property
    def kind(self) -> str:
        """amount (money or a count), ratio, pp, times, duration or number."""
        if self.base in ("%", "‰"):
            return "ratio"
        if self.base in ("个百分点", "倍"):
            return {"个百分点": "pp", "倍": "times"}[self.base]
        if self.base in ("天", "月", "年", "季度"):
            return "duration"
        if self.base in CURRENCIES or self.base in COUNTS or self.scale != 1:
            return "amount"
        return "number"

    @property
    def is_money(self) -> bool:
        return self.base in CURRENCIES


def currency(base: str) -> str:
    """人民币 and 港币 spelt the way the answer writes them."""
    return {"人民币": "元", "港币": "港元"}.get(base, base)


def unit_text(scale: Decimal, base: str) -> str:
    """``亿`` + ``美元`` -> ``亿美元``."""
    prefix = next(name for name, value in SCALES.items() if value == scale)
    return prefix + currency(base)


def _sentence_start(text: str, at: int) -> int:
    return max(text.rfind(ch, 0, at) for ch in SENTENCE_ENDS) + 1


def _clause_start(text: str, at: int) -> int:
    return max(text.rfind(ch, 0, at) for ch in SEPARATORS) + 1


def _period_of(label: str) -> tuple[str, float | None]:
    found = list(_PERIOD.finditer(label))
    if not found:
        return "", None
    word = found[-1].group(0)
    year = found[-1].group(1)
    if year:
        rank = float(year) - (0.01 if ("初" in word) else 0)
        month = re.search(r"(\d{1,2})月", word)
        if month:
            rank += int(month.group(1)) / 100
        return word, rank
    if word in ("前年",):
        return word, -2.0
    if word in ("明年", "下一年"):
        return word, 1.0
    if word in _PREVIOUS_WORDS:
        return word, -1.0
    if word in _CURRENT_WORDS:
        return word, 0.0
    return word, None


def clean_label(label: str) -> str:
    """The measure words of a label: periods, fillers and linking verbs removed."""
    text = _PERIOD.sub("", label)
    text = _FILLER.sub("", text.strip())
    text = _TRAILING.sub("", text)
    return text.strip()


def _parts(text: str) -> list[tuple[int, int, Decimal, str, str, str]]:
    """(start, end, value, scale word, base, written unit) for every number with its unit."""
    found = []
    for match in _QUANTITY.finditer(text):
        number, other, scale_word, base = match.groups()
        value = Decimal(number.replace(",", ""))
        if other:
            if other in ("月", "号") or (other == "年" and "." not in number and len(number) == 4):
                continue  # a date: 2024年, 3月, 5号
            if other in ("季度", "个季度"):
                base = "季度"
            elif other in ("%", "％"):
                base = "%"
            else:
                base = DURATIONS.get(other, other)
            found.append((match.start(), match.end(), value, "", base, other))
            continue
        scale_word = scale_word or ""
        base = base or ""
        if base == "年":
            continue
        found.append(
            (
                match.start(),
                match.end(),
                value,
                scale_word,
                base,
                match.group(0)[len(number) :].strip(),
            )
        )
    for match in _PERCENT_WORDS.finditer(text):
        found.append((match.start(), match.end(), Decimal(match.group(1)), "", "%", "%"))
    return sorted(found)


def find_quantities(text: str) -> list[Quantity]:
    """Every quantity in ``text`` with its label, subject, role and period (see the module)."""
    found: list[Quantity] = []
    previous_end = 0
    sentence_subject = ""
    sentence_at = -1
    for start, end, value, scale_word, base, written in _parts(text):
        sentence = _sentence_start(text, start)
        if sentence != sentence_at:
            sentence_at, sentence_subject = sentence, ""
        clause = _clause_start(text, start)
        label_from = max(clause, previous_end if previous_end > clause else clause)
        label = text[label_from:start]
        # A period named at the start of the clause or sentence holds for what follows.
        period, rank = _period_of(_COMPARED.sub("", text[sentence:start]))
        words = clean_label(label)
        position = ""
        raw = _PERIOD.sub("", label.strip()).rstrip("的")
        if (m := _FROM_TO.search(raw)) is not None:
            position = "start" if m.group(0) in ("从", "由") else "end"
            words = clean_label(raw[: m.start()])
        role, sign, subject = _role(words, base, scale_word)
        after = _AFTER.match(text[end:]) if not words else None
        source_end = end
        if after and role == "level" and not subject:
            subject = words = after.group(1)
            source_end = end + len(after.group(0))
        if base == "" and scale_word and any(w in label + subject for w in _MONEY_WORDS):
            base = "元"  # 500万的应收账款: money, though the text leaves out 元
        if not subject:
            subject = sentence_subject
        elif (
            role == "level"
            or role == "ratio"
            or (role in ("rate", "change", "share", "pp", "duration") and not sentence_subject)
        ):
            sentence_subject = subject
        scale = (
            SCALES[scale_word]
            if base not in ("%", "个百分点", "倍", "天", "月", "年", "季度")
            else Decimal(1)
        )
        unit = written if written else ""
        found.append(
            Quantity(
                value,
                scale,
                base,
                unit,
                text[start:end].strip(),
                start,
                end,
                label,
                subject,
                role,
                period,
                rank,
                sign,
                position,
                text[label_from:source_end].strip(),
            )
        )
        previous_end = end
    return found


def _role(words: str, base: str, scale_word: str) -> tuple[str, int, str]:
    """(role, sign, subject) from the label's measure words."""
    sign = -1 if any(words.endswith(w) or words.endswith(w + "了") for w in _DOWN) else 1
    growth = _GROWTH.search(words)
    subject = words[: growth.start()] if growth else words
    if base == "个百分点":
        return "pp", sign, subject
    if base == "倍":
        return "times", 1, subject
    if base in ("天", "月", "年", "季度"):
        return "duration", 1, subject
    if base in ("%", "‰"):
        if any(w in words for w in _SHARE):
            share_subject = re.split("|".join(_SHARE), words)[0]
            return "share", 1, share_subject
        if growth:
            return "rate", sign, subject
        return "ratio", 1, words
    if growth and growth.group(0) != "新增":
        return "change", sign, subject
    return "level", 1, words
