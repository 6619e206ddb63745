"""The typed query: what to compute, over which companies, for which period, in which order.

The offline parser and a model (through the ``query_data`` tool) both fill this one type; the
compiler validates it against the catalogue and turns it into SQL. Nothing else writes SQL.

>>> Query(metrics=["invoice_amount"], group_by=["enterprise"], limit=3).order_metric
'invoice_amount'
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_LIMIT = 100


class Filter(BaseModel):
    """Keep only rows whose ``dimension`` takes one of ``values`` (ids for enterprise and
    counterparty, codes for role/status/product, text for industry and region)."""

    model_config = ConfigDict(extra="forbid")

    dimension: str = Field(description="维度：enterprise、counterparty、role、industry、region 等")
    values: list[str] = Field(min_length=1, max_length=50, description="取值（企业用编号）")


class Threshold(BaseModel):
    """A condition on a metric's value per group (超过500万 -> ``> 5000000``)."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(description="指标")
    op: Literal[">", ">=", "<", "<="] = Field(description="比较方式")
    value: Decimal = Field(description="金额用元，比例用 0–1 的小数，天数用天")


class PeriodSpec(BaseModel):
    """An explicit date range (inclusive) and the label an answer states."""

    model_config = ConfigDict(extra="forbid")

    start: date = Field(description="开始日期（含）")
    end: date = Field(description="结束日期（含）")
    label: str = Field("", description="回答中说明的时间名称，如“2026年9月”")


class Query(BaseModel):
    """One question over the caller's own book, as data."""

    model_config = ConfigDict(extra="forbid")

    metrics: list[str] = Field(min_length=1, max_length=4, description="指标，见目录")
    filters: list[Filter] = Field(default_factory=list, description="按维度筛选")
    thresholds: list[Threshold] = Field(
        default_factory=list, description="按指标值筛选分组，如开票金额超过500万"
    )
    group_by: list[str] = Field(
        default_factory=list, max_length=2, description="分组维度，最多两个"
    )
    period: PeriodSpec | None = Field(None, description="统计期；不填时流量指标取近12个月")
    order_by: str | None = Field(None, description="按哪个指标排序（默认第一个指标）")
    descending: bool = Field(True, description="true：从高到低；false：从低到高")
    limit: int | None = Field(None, ge=1, le=MAX_LIMIT, description="最多返回几行（前N名）")
    compare: Literal["previous", "year_ago"] | None = Field(
        None, description="previous：环比上一期；year_ago：同比去年同期"
    )
    pick: Literal["latest", "earliest"] | None = Field(
        None,
        description="latest：按时间取最近的逐笔记录；earliest：最早的（与 invoice 或 payment 维度"
        "一起用，limit 为取几笔，默认 1；不填 period 时为截至数据日期的全部记录）",
    )

    @property
    def order_metric(self) -> str:
        return self.order_by or self.metrics[0]

    def filter_values(self, dimension: str) -> list[str]:
        """The values of the filter on ``dimension`` (empty when there is none)."""
        return next((f.values for f in self.filters if f.dimension == dimension), [])

    def with_filter(self, dimension: str, values: list[str]) -> Query:
        """A copy with the filter on ``dimension`` replaced (removed when ``values`` is empty)."""
        kept = [f for f in self.filters if f.dimension != dimension]
        if values:
            kept.append(Filter(dimension=dimension, values=values))
        return self.model_copy(update={"filters": kept})
