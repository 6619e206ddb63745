"""Chinese numerals as numbers, in one place (the guard, the time grammar, the query parser).

>>> chinese_numeral("六十万"), chinese_numeral("一点二亿"), chinese_numeral("三十五")
(Decimal('600000'), Decimal('120000000.0'), Decimal('35'))
"""

from __future__ import annotations

from decimal import Decimal

_CN_DIGIT = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_SMALL_UNIT = {"十": 10, "百": 100, "千": 1000}
_CN_BIG_UNIT = {"万": Decimal(10) ** 4, "亿": Decimal(10) ** 8}


def chinese_numeral(text: str) -> Decimal | None:
    """``六十万`` -> 600000, ``一点二亿`` -> 120000000, ``三十五`` -> 35; None if not a numeral."""
    if "点" in text and text[-1:] in _CN_BIG_UNIT:  # 一点二亿: the fraction belongs to 亿
        inner = chinese_numeral(text[:-1])
        return None if inner is None else inner * _CN_BIG_UNIT[text[-1]]
    whole, _, fraction = text.partition("点")
    total, section, digit = Decimal(0), Decimal(0), None
    for char in whole:
        if char in _CN_DIGIT:
            digit = _CN_DIGIT[char]
        elif char in _CN_SMALL_UNIT:
            section += (1 if digit is None else digit) * _CN_SMALL_UNIT[char]
            digit = None
        elif char in _CN_BIG_UNIT:
            total = (total + section + (digit or 0)) * _CN_BIG_UNIT[char]
            section, digit = Decimal(0), None
        else:
            return None
    value = total + section + (digit or 0)
    if fraction:
        digits = "".join(str(_CN_DIGIT[c]) for c in fraction if c in _CN_DIGIT)
        if len(digits) != len(fraction):
            return None
        value += Decimal("0." + digits)
    return value
