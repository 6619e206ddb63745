"""The catalogue of metrics and dimensions (``catalogue.yaml``), validated once on load.

A metric is defined once, in reviewable data: its table, the column naming the enterprise it
belongs to (the *subject*, which the compiler joins to the caller's scope), how it aggregates,
its time field and which dimensions it may be grouped or filtered by.

>>> cat = load_query_catalogue()
>>> cat.metrics["invoice_amount"].label
'开票金额'
>>> cat.metrics["net_flow"].bases(cat)
['inflow', 'outflow']
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from finassist.errors import ConfigError

CATALOGUE_FILE = "catalogue.yaml"
TABLES = ("invoices", "payments", "financing", "orders", "risk_events", "enterprises")
AGGREGATES = ("sum_gross", "sum_open", "sum_amount", "count", "weighted_collection_days")
DERIVED_OPS = ("difference", "dso", "top_share", "ratio")
AS_OF = "$as_of"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Strict):
    """A fixed condition of a metric: ``column op value`` (``$as_of``: the data's date)."""

    column: str
    op: Literal["eq", "ne", "in", "notin", "lt", "le"]
    value: Any


class Derived(_Strict):
    """A metric computed from others on the same groups."""

    op: Literal["difference", "dso", "top_share", "ratio"]
    of: list[str] = Field(min_length=1, max_length=2)


class Metric(_Strict):
    """One metric: a base aggregate over a table, or a derived one."""

    key: str = ""
    label: str
    unit: str
    formula: str
    table: str | None = None
    subject: str | None = None
    counterparty: str | None = None
    aggregate: str | None = None
    where: list[Condition] = Field(default_factory=list)
    time: str | None = None
    snapshot: bool = False
    dimensions: list[str] = Field(default_factory=list)
    derived: Derived | None = None

    @model_validator(mode="after")
    def _complete(self) -> Metric:
        if self.derived is None:
            missing = [
                f for f in ("table", "subject", "aggregate", "time") if getattr(self, f) is None
            ]
            if missing:
                raise ValueError(f"基础指标缺少 {', '.join(missing)}")
            if self.table not in TABLES:
                raise ValueError(f"table 只能取 {', '.join(TABLES)}")
            if self.aggregate not in AGGREGATES:
                raise ValueError(f"aggregate 只能取 {', '.join(AGGREGATES)}")
        return self

    def bases(self, catalogue: QueryCatalogue) -> list[str]:
        """The base metrics this metric needs (itself when it is one)."""
        if self.derived is None:
            return [self.key]
        out: list[str] = []
        for name in self.derived.of:
            out += [b for b in catalogue.metrics[name].bases(catalogue) if b not in out]
        return out

    def allowed(self, catalogue: QueryCatalogue) -> set[str]:
        """Dimensions every base of this metric accepts."""
        sets = [set(catalogue.metrics[b].dimensions) for b in self.bases(catalogue)]
        allowed = set.intersection(*sets)
        if self.derived is not None and self.derived.op == "top_share":
            allowed.discard("counterparty")
            allowed.discard("invoice")
        if self.derived is not None:
            allowed.discard("invoice")
        return allowed

    @property
    def is_snapshot(self) -> bool:
        return self.snapshot


class Dimension(_Strict):
    """A dimension: where its value comes from and how a filter on it matches."""

    key: str = ""
    label: str
    source: str
    match: Literal["equal", "contains"] = "equal"
    group: bool = True


class QueryCatalogue(_Strict):
    """Every metric and dimension, by key."""

    version: int
    metrics: dict[str, Metric]
    dimensions: dict[str, Dimension]

    @model_validator(mode="after")
    def _consistent(self) -> QueryCatalogue:
        for key, metric in self.metrics.items():
            unknown = [d for d in metric.dimensions if d not in self.dimensions]
            if unknown:
                raise ValueError(f"指标 {key} 引用了未定义的维度：{', '.join(unknown)}")
            if metric.derived is not None:
                missing = [m for m in metric.derived.of if m not in self.metrics]
                if missing:
                    raise ValueError(f"派生指标 {key} 引用了未定义的指标：{', '.join(missing)}")
        return self


def parse_catalogue(data: dict[str, Any], where: str = CATALOGUE_FILE) -> QueryCatalogue:
    """Validate a catalogue mapping; problems raise :class:`ConfigError` naming the entry."""
    try:
        for section in ("metrics", "dimensions"):
            for key, entry in (data.get(section) or {}).items():
                if isinstance(entry, dict):
                    entry["key"] = key
        return QueryCatalogue.model_validate(data)
    except (ValidationError, AttributeError) as exc:
        if isinstance(exc, ValidationError):
            detail = "；".join(
                f"{'.'.join(str(p) for p in e['loc'])}：{e['msg']}" for e in exc.errors()
            )
        else:
            detail = str(exc)
        raise ConfigError(f"查询目录 {where} 有误：{detail}") from exc


@lru_cache(maxsize=1)
def load_query_catalogue() -> QueryCatalogue:
    """The packaged catalogue, parsed and validated once."""
    text = resources.files("finassist.finance.query").joinpath(CATALOGUE_FILE).read_text("utf-8")
    return parse_catalogue(yaml.safe_load(text))
