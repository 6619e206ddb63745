"""The query layer: a catalogue of metrics and dimensions, a typed query, its compiler to
parameterised SQL (the caller's scope joined in by code) and the Chinese time grammar."""

from finassist.finance.query.catalogue import QueryCatalogue, load_query_catalogue
from finassist.finance.query.compiler import QueryResult, run_query
from finassist.finance.query.model import Filter, PeriodSpec, Query, Threshold
from finassist.finance.query.periods import Period, parse_period, read_time

__all__ = [
    "Filter",
    "Period",
    "PeriodSpec",
    "Query",
    "QueryCatalogue",
    "QueryResult",
    "Threshold",
    "load_query_catalogue",
    "parse_period",
    "read_time",
    "run_query",
]
