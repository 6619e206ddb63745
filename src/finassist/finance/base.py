"""The tool seam: what a tool is, who calls it, and what it returns.

A tool is a fixed, parameterised, read-only query (plus arithmetic) over the domain database.
Its result carries ``records``: the evidence rows (invoice numbers, amounts, dates, ids) that
prove every figure in ``data``. The assistant cites records; nothing else may be stated.

>>> ctx = ToolContext(db=db, caller=Caller("M001"), as_of=date(2026, 10, 31))  # doctest: +SKIP
>>> get_tool("get_outstanding_invoices").run(ctx, {"enterprise_id": "E0004"})  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection

from finassist.errors import InvalidInput, add_unique
from finassist.store import Database


@dataclass(frozen=True)
class Caller:
    """Who is asking: a relationship manager (sees only his clients) or an admin (sees all)."""

    manager_id: str
    is_admin: bool = False
    role: str | None = None  # ``managers.role`` when already looked up (once per turn)


@dataclass(frozen=True)
class ToolContext:
    """Everything a tool run needs; built by the assistant for each turn.

    ``connection`` is set by :meth:`Tool.run` for the length of one run, so that all the queries
    of a tool share one read-only connection (a SQLite connection costs about half a
    millisecond to open, and a fresh one starts with a cold page cache).
    """

    db: Database
    caller: Caller
    as_of: date
    connection: Connection | None = field(default=None, compare=False, repr=False)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """The run's connection while a tool runs, else a fresh read-only one."""
        if self.connection is not None:
            yield self.connection
        else:
            with self.db.read() as conn:
                yield conn


@dataclass(frozen=True)
class Record:
    """One piece of evidence.

    ``kind``: invoice | payment | order | financing | risk_event | enterprise | relationship |
    metric | product. ``id`` is stable and unique within a reply, e.g.
    ``invoice:26312000000000004521`` or ``metric:E0004:dso_days``. ``source`` names where it
    comes from (``数据库·发票`` / ``计算·get_payment_behavior``). ``data`` holds the values
    (Decimal, date, str, int); ``text`` is one Chinese line that states them.
    """

    kind: str
    id: str
    source: str
    data: dict[str, Any]
    text: str


@dataclass
class ToolResult:
    """What a tool returns: structured ``data`` and the ``records`` that prove it."""

    tool: str
    args: dict[str, Any]
    data: dict[str, Any]
    records: list[Record] = field(default_factory=list)


class Tool:
    """Base class: subclasses set ``name``, ``description`` (Chinese), ``Args`` and ``execute``."""

    name: ClassVar[str]
    description: ClassVar[str]
    Args: ClassVar[type[BaseModel]]

    def parameters(self) -> dict[str, Any]:
        """The JSON schema of the arguments, as function calling expects it."""
        return self.Args.model_json_schema()

    def schema(self) -> dict[str, Any]:
        """OpenAI function-calling description of this tool."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters(),
            },
        }

    def run(self, ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
        """Validate ``args`` and execute; invalid arguments raise :class:`InvalidInput`."""
        try:
            parsed = self.Args.model_validate(args)
        except ValidationError as exc:
            problems = "；".join(
                f"{'.'.join(str(p) for p in e['loc']) or '参数'}：{_explain(e)}"
                for e in exc.errors()
            )
            raise InvalidInput(f"工具 {self.name} 的参数有误：{problems}") from exc
        if ctx.connection is not None:
            return self.execute(ctx, parsed)
        with ctx.db.read() as conn:  # also turns database errors into FinassistError
            return self.execute(replace(ctx, connection=conn), parsed)

    def execute(self, ctx: ToolContext, args: Any) -> ToolResult:  # pragma: no cover - abstract
        raise NotImplementedError


# Chinese wording for the pydantic error types tool arguments can produce; others keep
# pydantic's English message (still naming the field).
_ERROR_TEMPLATES = {
    "missing": "缺少必填参数",
    "extra_forbidden": "不支持该参数",
    "string_too_short": "长度不能少于 {min_length} 个字符",
    "string_too_long": "长度不能超过 {max_length} 个字符",
    "string_pattern_mismatch": "格式不正确",
    "greater_than_equal": "不能小于 {ge}",
    "less_than_equal": "不能大于 {le}",
    "greater_than": "必须大于 {gt}",
    "less_than": "必须小于 {lt}",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "string_type": "应为字符串",
    "literal_error": "只能取 {expected}",
    "value_error": "{error}",
}


def _explain(error: Any) -> str:
    """One pydantic error as a Chinese phrase."""
    template = _ERROR_TEMPLATES.get(error["type"])
    if template is None:
        return str(error["msg"])
    try:
        return template.format(**error.get("ctx", {}))
    except (KeyError, IndexError):
        return str(error["msg"])


_REGISTRY: dict[str, Callable[[], Tool]] = {}


def register(factory: type[Tool]) -> type[Tool]:
    """Class decorator: make a tool available by its name."""
    add_unique(_REGISTRY, factory.name, factory, "工具")
    return factory


def get_tool(name: str) -> Tool:
    """The tool called ``name``; an unknown name is :class:`InvalidInput`."""
    import finassist.finance.tools  # noqa: F401  (registers the built-in tools)

    try:
        return _REGISTRY[name]()
    except KeyError:
        raise InvalidInput(
            f"没有名为 {name} 的工具。可用：{', '.join(sorted(_REGISTRY))}"
        ) from None


def all_tools() -> list[Tool]:
    """Every registered tool, sorted by name."""
    import finassist.finance.tools  # noqa: F401

    return [_REGISTRY[name]() for name in sorted(_REGISTRY)]


# Values JSON takes as they are. Checked by exact type first: replies and stored turns carry
# thousands of values (a core's relationship list), and most of them are plain.
_PLAIN = frozenset({str, int, float, bool, type(None)})


def jsonable(value: Any) -> Any:
    """Decimal -> str (exact), date -> ISO string, recursively; for JSON output."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict:
        return {str(k): v if type(v) in _PLAIN else jsonable(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [v if type(v) in _PLAIN else jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
