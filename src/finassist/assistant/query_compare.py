"""对比一下: the two subjects of the last two data questions, side by side, with the difference.

After "恒泰精密三季度开票金额" and "那远航汽配呢" (or "那二季度呢"), a bare "对比一下" means those two
answers, not a chart (a chart is asked with 图 / 画). Each side is run again through the
compiler, so the table holds the same figures the two answers gave; the difference is computed
from them and cited as its own evidence. When the two answers cannot be compared figure by
figure (lists, or different metrics) the reply says what to ask instead of guessing.

>>> is_bare_comparison("对比一下"), is_bare_comparison("画图对比一下"), is_bare_comparison("对比华东汽车")
(True, False, False)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from finassist.assistant import guard
from finassist.assistant.compose import EvidenceBook
from finassist.assistant.query_parser import INTENT_METRICS
from finassist.assistant.session import Session
from finassist.assistant.types import Reply
from finassist.finance.analytics.common import share
from finassist.finance.base import Record, ToolContext
from finassist.finance.query.catalogue import QueryCatalogue
from finassist.finance.query.compiler import QueryResult, run_query
from finassist.finance.query.model import Filter, PeriodSpec, Query
from finassist.finance.query.periods import last_months
from finassist.finance.query.tool import SOURCE, period_text, records, value_text

INTENT = "query"
COMPARE_WORD = re.compile(r"对比|比较|比一比|比一下|pk", re.I)
CHART_WORD = re.compile(r"图|画|可视化|走势|趋势|堆叠")
# What a bare "对比一下" may say around its verb; anything else (a company, a metric) is a new
# question for the parser.
FILLER = re.compile(
    r"请|帮我|帮忙|麻烦|再|把|给我|做个|做一下|一下|一个|下|看看|看|吧|呢|的|这两家|这两个|这两期|"
    r"这两|两家|两个|两期|两者|二者|它们|他们|上面|前面|刚才|结果|数据|情况|[，。？?！!、\s]"
)
DIFFERENCE_UNITS = ("元", "张", "笔", "次", "件", "家", "天")
ASK_ONE = (
    "目前只有一个结果（{shown}），您想和什么对比？请说出另一家企业（如“和远航汽配比”）"
    "或另一个期间（如“和二季度比”）；要画图请说“画图对比”。"
)
ASK_NOTHING = "您想对比什么？请说明对象和指标，例如：对比华东汽车和远航汽配三季度的开票金额。"
NOT_COMPARABLE = "我不确定要对比的是哪两个数字：{why}。请说明对象和指标，例如：对比华东汽车和远航汽配三季度的开票金额。"


def is_bare_comparison(text: str) -> bool:
    """``对比一下`` / ``这两家比较一下``: a comparison verb and nothing else (no chart word)."""
    if not COMPARE_WORD.search(text) or CHART_WORD.search(text):
        return False
    return not FILLER.sub("", COMPARE_WORD.sub("", text))


@dataclass
class Side:
    """One of the two answers being compared."""

    query: Query
    result: QueryResult


def last_two(state: Any, as_of: Any) -> tuple[Query, Query] | str | None:
    """The two queries to compare (earlier first); a reason when they cannot be compared
    figure by figure; None when the conversation holds no two subjects."""
    if state.query and state.previous_query:
        first = Query.model_validate(state.previous_query)
        second = Query.model_validate(state.query)
    elif state.last_intent in INTENT_METRICS and len(state.mentioned) >= 2:
        first = _intent_query(state, state.mentioned[1]["id"], as_of)
        second = _intent_query(state, state.mentioned[0]["id"], as_of)
    else:
        return None
    if first.group_by or second.group_by:
        return "上两问的结果是列表，不是单个数字"
    if first.metrics != second.metrics:
        return "上两问问的是不同的指标"
    if first == second:
        return "上两问是同一个问题"
    return first, second


def _intent_query(state: Any, enterprise_id: str, as_of: Any) -> Query:
    """What a templated answer (现金流、发票 ...) about one company showed, as a query."""
    months = (state.window or {}).get("months", 12)
    period = last_months(int(months), as_of)
    spec = PeriodSpec(start=period.start, end=period.end, label=period.label)
    return Query(
        metrics=INTENT_METRICS[state.last_intent],
        filters=[Filter(dimension="enterprise", values=[enterprise_id])],
        period=spec,
    )


def last_one(state: Any, as_of: Any) -> Query | None:
    """The one data answer the conversation holds (None when it holds none)."""
    if state.query:
        return Query.model_validate(state.query)
    if state.last_intent in INTENT_METRICS and state.mentioned:
        return _intent_query(state, state.mentioned[0]["id"], as_of)
    return None


def ask_what(state: Any, as_of: Any, catalogue: QueryCatalogue) -> str:
    """The question back when 对比一下 follows only one answer (or none): with what?"""
    one = last_one(state, as_of)
    if one is None:
        return ASK_NOTHING
    labels = "、".join(catalogue.metrics[m].label for m in one.metrics)
    ids = one.filter_values("enterprise")
    name = state.enterprise_name if ids and ids[0] == state.enterprise_id else ""
    shown = f"{name}的{labels}" if name else labels
    return ASK_ONE.format(shown=shown)


def compare_reply(
    text: str, session: Session, tools: ToolContext, catalogue: QueryCatalogue
) -> Reply | None:
    """The reply to a bare 对比一下: the last two answers side by side, or a question back
    when the conversation holds fewer than two (a chart only when 图 / 画 is said)."""
    if not is_bare_comparison(text):
        return None
    found = last_two(session.state, tools.as_of)
    if found is None:
        question = ask_what(session.state, tools.as_of, catalogue)
        if question != ASK_NOTHING:
            session.state.pending = {"compare_with": True}  # the next message names the other
        return Reply(session.id, question, INTENT, clarification=True)
    if isinstance(found, str):
        return Reply(session.id, NOT_COMPARABLE.format(why=found), INTENT, clarification=True)
    return pair_reply(list(found), session, tools, catalogue)


def pair_reply(
    queries: list[Query], session: Session, tools: ToolContext, catalogue: QueryCatalogue
) -> Reply:
    """Two queries side by side: a table of both, then how the second differs from the first."""
    sides = [Side(q, run_query(tools, q, catalogue)) for q in queries]
    book = EvidenceBook()
    lines = _table(sides, book, catalogue)
    checked = guard.check("\n".join(lines), book.items)
    reply = Reply(session.id, checked.text, INTENT, evidence=list(book.items))
    reply.unverified = checked.unsupported
    session.state.last_intent = INTENT
    session.state.pending = None
    return reply


def _subject(side: Side, other: Side) -> str:
    """What names a side: its company, its period, or both where both differ."""
    ids = side.query.filter_values("enterprise")
    name = "、".join(side.result.names.get(i, i) for i in ids) or "您名下的客户"
    parts = []
    if ids != other.query.filter_values("enterprise") or side.query.filters != other.query.filters:
        parts.append(name)
    if side.result.period != other.result.period and side.result.period is not None:
        parts.append(side.result.period.label)
    return "·".join(parts) or name


def _table(sides: list[Side], book: EvidenceBook, catalogue: QueryCatalogue) -> list[str]:
    first, second = sides
    metrics = [catalogue.metrics[m] for m in first.query.metrics]
    names = [_subject(first, second), _subject(second, first)]
    head = f"对比：{names[0]} 与 {names[1]}（{'、'.join(m.label for m in metrics)}）"
    ids = first.query.filter_values("enterprise")
    if ids == second.query.filter_values("enterprise"):  # the same company: say which
        scope = "、".join(first.result.names.get(i, i) for i in ids) or "您名下的客户"
        head += f"；范围：{scope}"
    lines = [head + "。"]
    header = ["序号", "对象", "统计口径", *[m.label for m in metrics]]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    rows: list[dict[str, Any]] = []
    for index, (side, name) in enumerate(zip(sides, names, strict=True), start=1):
        summary, *recs = records(side.result, catalogue)
        row = side.result.rows[0] if side.result.rows else {}
        cells = [str(index), name, period_text(side.result, catalogue)]
        cells += [value_text(row.get(m.key), m.unit) for m in metrics]
        cells[-1] += book.cite_records([summary, *recs[:1]])
        lines.append("| " + " | ".join(cells) + " |")
        rows.append(row)
    for metric in metrics:
        a, b = rows[0].get(metric.key), rows[1].get(metric.key)
        if metric.unit not in DIFFERENCE_UNITS or a is None or b is None:
            continue
        difference = Decimal(b) - Decimal(a)
        rate = share(abs(difference), abs(Decimal(a))) if a else None
        word = "多" if difference >= 0 else "少"
        text = f"{names[1]}比{names[0]}{word} {value_text(_plain(abs(difference)), metric.unit)}"
        if rate is not None:
            text += f"（{'高' if difference >= 0 else '低'} {value_text(rate, '比例')}）"
        data = {"first": a, "second": b, "difference": difference,
                "difference_abs": _plain(abs(difference)), "rate_abs": rate}  # fmt: skip
        record = Record(
            "metric", f"compare:{metric.key}:{names[0]}:{names[1]}", f"计算·对比（{SOURCE}）",
            data, f"{metric.label}：{text}",
        )  # fmt: skip
        lines.append(f"{metric.label}：{text}{book.cite_records([record])}。")
    return lines


def _plain(value: Decimal) -> Decimal | int:
    """A count stays an integer (3 张, not 3.00 张)."""
    return (
        int(value)
        if value == value.to_integral_value() and value.as_tuple().exponent == 0
        else value
    )
