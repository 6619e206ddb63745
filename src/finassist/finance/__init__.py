"""Supply-chain finance: the domain data, the tools the assistant may call, and recommendation.

Modules, lowest first: ``rows`` (table rows and look-ups), ``access`` (who may see which
enterprise), ``analytics`` (cash flow, payment behaviour, overdue, concentration, open orders),
``evidence`` (rows and figures stated as citable records), ``catalogue`` (products, as data),
``directory`` (resolve enterprise names), ``features`` and ``recommend`` (product
recommendation, rules as data), ``tools`` (the tool set; importing it registers every tool).

>>> from finassist.finance import get_tool                    # doctest: +SKIP
>>> get_tool("get_cashflow").run(ctx, {"enterprise_id": "E0005"})  # doctest: +SKIP
"""

from finassist.finance.base import (
    Caller,
    Record,
    Tool,
    ToolContext,
    ToolResult,
    all_tools,
    get_tool,
    jsonable,
)

__all__ = [
    "Caller",
    "Record",
    "Tool",
    "ToolContext",
    "ToolResult",
    "all_tools",
    "get_tool",
    "jsonable",
]
