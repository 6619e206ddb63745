"""How a figure is written in Chinese text, the same way in an answer, a report and a chart.

>>> money(Decimal("1234567.8"))
'1,234,567.80 元'
>>> percent(Decimal("0.35214"))
'35.21%'
>>> unit_value(Decimal("35.24"), "天")
'35.2 天'
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

TWO_PLACES = Decimal("0.01")
ONE_PLACE = Decimal("0.1")
NO_DATA = "暂无数据"


def money(value: Decimal | int | None) -> str:
    """Yuan with thousands separators and two decimals: ``1,234,567.80 元``."""
    value = Decimal(value or 0).quantize(TWO_PLACES, ROUND_HALF_UP)
    return f"{value:,.2f} 元"


def percent(ratio: Decimal | float | None) -> str:
    """A 0..1 ratio as a percentage with two decimals."""
    value = (Decimal(str(ratio or 0)) * 100).quantize(TWO_PLACES, ROUND_HALF_UP)
    return f"{value}%"


def days(value: Decimal | float | int | None) -> str:
    """Days with one decimal; ``暂无数据`` when there was nothing to average."""
    if value is None:
        return NO_DATA
    return f"{Decimal(str(value)).quantize(ONE_PLACE, ROUND_HALF_UP)} 天"


def count(value: int) -> str:
    """A count, as is."""
    return str(int(value))


def unit_value(value: Any, unit: str | None) -> str:
    """A value in its unit (``元``, a ratio as ``ratio``/``比例``/``%``, ``天``, or any other
    unit written after the value); ``暂无数据`` for None."""
    unit = str(unit or "")
    if value is None:
        return NO_DATA
    if unit in ("ratio", "比例", "%"):
        return percent(value)
    if unit == "元":
        return money(value)
    if unit == "天":
        return days(value)
    return f"{value} {unit}".strip()
