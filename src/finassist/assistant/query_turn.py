"""The query layer in a turn: a data question the parser reads is answered from the compiler.

The answer says what was computed (period, scope, filters, ranking), shows a table when a list
was asked for, and cites each figure to the query result it comes from; the evidence guard
checks it like any other answer. Headings state the order the rows really have.
"""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal
from typing import Any

from finassist.assistant import guard
from finassist.assistant.compose import EvidenceBook, template
from finassist.assistant.query_compare import compare_reply, last_one, pair_reply
from finassist.assistant.query_parser import Parsed, Vocabulary, parse, pick_option
from finassist.assistant.session import Session, SessionState
from finassist.assistant.slots import pick_candidate
from finassist.assistant.types import Reply
from finassist.errors import InvalidInput, NotFound
from finassist.finance.access import is_admin
from finassist.finance.analytics.common import share
from finassist.finance.base import Record, ToolContext
from finassist.finance.directory import EnterpriseDirectory
from finassist.finance.evidence import FINANCING_STATUS, INVOICE_STATUS, ROLE
from finassist.finance.query.catalogue import QueryCatalogue, load_query_catalogue
from finassist.finance.query.compiler import QueryResult, run_query
from finassist.finance.query.model import Query
from finassist.finance.query.tool import (
    SOURCE,
    TIME_LABEL,
    partial_text,
    period_text,
    records,
    row_label,
    value_text,
)

INTENT = "query"
COUNT_METRIC = "client_count"
CHANGE_LABEL = {"change": "较对比期的增加额", "change_rate": "较对比期的增长率"}
TIME_DIMS = ("month", "quarter", "year")
SUMMABLE = ("元", "张", "笔", "次", "件")  # units whose parts add up to a whole
PRODUCT = {
    "early_payment": "提前回款",
    "reverse_factoring": "反向保理",
    "order_financing": "订单融资",
    "purchase_financing": "采购融资",
    "distribution_financing": "经销商融资",
}
# 和远航汽配比 / 跟二季度对比一下: what is left names the other side of a comparison.
COMPARE_WITH = re.compile(
    r"^(?:那|请|帮我)?(?:和|跟|与|同)|(?:对比|比较|相比|比)(?:一下|一比)?|[呢吧吗。？?！!，,\s]"
)
VALUE_NAMES = {
    "role": ROLE,
    "counterparty_role": ROLE,
    "product": PRODUCT,
    "status": {**INVOICE_STATUS, **FINANCING_STATUS},
}


class QueryLayer:
    """Per-assistant caches (the vocabulary of each caller) and the turn hook."""

    def __init__(self) -> None:
        self._vocab: dict[str, Vocabulary] = {}
        self.catalogue: QueryCatalogue = load_query_catalogue()

    def vocabulary(self, tools: ToolContext) -> Vocabulary:
        key = tools.caller.manager_id
        if key not in self._vocab:
            self._vocab[key] = Vocabulary.load(tools)
        return self._vocab[key]

    def answer(
        self, text: str, session: Session, tools: ToolContext, directory: EnterpriseDirectory
    ) -> Reply | None:
        """The reply when the query layer takes the message; None to leave it to the others."""
        state = session.state
        pending = state.pending or {}
        if pending.get("query_options"):
            picked = pick_option(text, pending["query_options"], self.catalogue)
            if picked is not None:
                state.pending = None
                return self._reply(picked, None, session, tools)
        if pending.get("intent") == INTENT and pending.get("candidates") and state.query:
            # 那华信呢 -> "which one?" -> "1": the last query, for the company picked.
            candidates = pending["candidates"]
            index = pick_candidate(text, [c["name"] for c in candidates])
            if index is not None:
                state.pending = None
                chosen = candidates[index]
                last = Query.model_validate(state.query)
                query = last.with_filter("enterprise", [chosen["id"]])
                if "enterprise" in query.group_by:
                    kept = [g for g in query.group_by if g != "enterprise"]
                    query = query.model_copy(update={"group_by": kept, "limit": None})
                return self._reply(query, Parsed(enterprise=chosen), session, tools)
        if pending.get("compare_with"):
            state.pending = None
            paired = self._compare_with(text, session, tools, directory)
            if paired is not None:  # 对比一下 -> "和什么对比？" -> 和远航汽配比
                return paired
        compared = compare_reply(text, session, tools, self.catalogue)
        if compared is not None:  # 对比一下: the last two answers side by side
            return compared
        parsed = parse(
            text,
            directory=directory,
            vocab=self.vocabulary(tools),
            as_of=tools.as_of,
            state=state,
            catalogue=self.catalogue,
        )
        if parsed.unknown is not None:  # exactly what a company that does not exist gets
            state.pending = None
            reply = Reply(
                session.id, template("not_found").format(name=parsed.unknown), "not_found"
            )
            return reply
        if parsed.compare:
            return pair_reply(parsed.compare, session, tools, self.catalogue)
        if parsed.question is not None:
            state.pending = {"query_options": parsed.options}
            reply = Reply(session.id, parsed.question, INTENT, clarification=True)
            return reply
        if parsed.query is None:
            return None
        return self._reply(parsed.query, parsed, session, tools)

    def _compare_with(
        self, text: str, session: Session, tools: ToolContext, directory: EnterpriseDirectory
    ) -> Reply | None:
        """The answer to "和什么对比？": the one answer beside the same question for the company
        or period this message names (None when it names neither; the message is then read as
        a new question)."""
        state = session.state
        first = last_one(state, tools.as_of)
        other = COMPARE_WITH.sub("", text).strip()
        if first is None or not other:
            return None
        parsed = parse(
            f"那{other}呢",
            directory=directory,
            vocab=self.vocabulary(tools),
            as_of=tools.as_of,
            state=replace(state, query=first.model_dump(mode="json")),
            catalogue=self.catalogue,
        )
        second = parsed.query
        if second is None or second.group_by or second.metrics != first.metrics or second == first:
            return None
        return pair_reply([first, second], session, tools, self.catalogue)

    def _reply(
        self, query: Query, parsed: Parsed | None, session: Session, tools: ToolContext
    ) -> Reply:
        state = session.state
        try:
            result = run_query(tools, query, self.catalogue)
        except NotFound:
            name = parsed.enterprise["name"] if parsed and parsed.enterprise else ""
            return Reply(session.id, template("not_found").format(name=name), "not_found")
        except InvalidInput as exc:
            return Reply(session.id, f"这个问题我还不能这样统计：{exc}", INTENT, clarification=True)
        scope = "全部企业" if is_admin(tools) else "您名下的客户"
        book = EvidenceBook()
        if parsed is not None and parsed.without:
            return self._without(query, result, book, scope, session, tools)
        notes = list(parsed.notes) if parsed else []
        labels = "、".join(self.catalogue.metrics[m].label for m in query.metrics)
        if parsed is not None and parsed.whole_book:
            notes.append(f"问题没有点名企业，以上按{scope}合计；要看某一家请说出企业名称")
        if (
            query.compare
            and result.snapshot
            and any(t.metric.endswith("__change") for t in query.thresholds)
        ):
            # 哪些客户的逾期金额比上月增加了: a screen on how a balance changed, which the data
            # cannot give (no balance history); a list would answer another question
            text = template("balance_change").format(labels=labels)
            return Reply(session.id, text, INTENT, clarification=True)
        if query.compare and result.compare_period is None:
            notes.append(f"{labels}是截至数据日期的余额，不能做同比或环比")
        elif (
            result.compare_period is not None
            and result.period is not None
            and result.period.days != result.compare_period.days
        ):  # 本季度（截至10月31日）比上季度: one month against three, and the answer says so
            notes.append("本期到数据日期为止还不完整，比对比期短，增减只反映本期已过去的部分")
        named = query.filter_values("enterprise")
        if len(named) > 1 and "enterprise" in query.group_by:
            # 恒泰精密和华信精工谁的逾期多: a company with nothing is no row, but it was asked about
            shown = {row.get("enterprise") for row in result.rows}
            notes += [
                f"{result.names.get(e, e)}在统计范围内没有{labels}（为零），表中未列出"
                for e in named
                if e not in shown
            ]
        counted = bool(parsed and parsed.count) or query.metrics == [COUNT_METRIC]
        shares = bool(parsed and parsed.shares)
        text = compose(
            result, book, self.catalogue, scope, counted=counted, notes=notes, shares_asked=shares
        )
        if parsed is not None and parsed.book_share:
            text += self._book_share(query, result, book, scope, tools)
        checked = guard.check(text, book.items)
        reply = Reply(session.id, checked.text, INTENT, evidence=list(book.items))
        if checked.unsupported:
            reply.unverified = checked.unsupported
            reply.text += "\n" + template("unverified_note").format(
                items="、".join(checked.unsupported)
            )
        ids = query.filter_values("enterprise")
        focus = parsed.enterprise if parsed and parsed.enterprise else None
        if ids and focus is None:
            focus = {"id": ids[0], "name": result.names.get(ids[0], "")}
        if focus and focus.get("id") in result.names:
            focus = {"id": focus["id"], "name": result.names[focus["id"]]}
            state.focus(focus["id"], focus["name"])
            reply.enterprise_id = focus["id"]
        asked = query.model_dump(mode="json")
        if state.query and state.query != asked:
            state.previous_query = state.query
        state.query = asked
        state.last_intent = INTENT
        state.pending = None
        reply.meta["query"] = state.query
        return reply

    def _book_share(
        self, query: Query, result: QueryResult, book: EvidenceBook, scope: str,
        tools: ToolContext,
    ) -> str:  # fmt: skip
        """One company's figure as a share of the caller's whole book (same metric, period)."""
        (company,) = query.filter_values("enterprise")
        whole = run_query(tools, query.with_filter("enterprise", []).model_copy(update={
            "group_by": ["enterprise"], "order_by": None, "limit": None, "compare": None,
        }), self.catalogue)  # fmt: skip
        row = next((r for r in whole.rows if r["enterprise"] == company), None)
        lines = []
        for name in query.metrics:
            metric = self.catalogue.metrics[name]
            if metric.unit not in SUMMABLE or row is None or row.get(name) is None:
                continue
            total = sum((Decimal(r.get(name) or 0) for r in whole.rows), Decimal(0))
            if not total:
                continue
            part = share(Decimal(row[name]), total)
            total_text = value_text(total if metric.unit == "元" else int(total), metric.unit)
            record = Record(
                "metric", f"{records(whole, self.catalogue)[0].id}:{company}:{name}:book_share",
                SOURCE, {"value": row[name], "book_total": total, "share": part},
                f"{metric.label}占{scope}合计的比例",
            )  # fmt: skip
            lines.append(
                f"占{scope}{metric.label}合计 {total_text} 的 {value_text(part, '比例')}"
                f"{book.cite_records([record])}。"
            )
        if not lines:
            return "\n说明：这一指标不能按占全部的比例计算。"
        return "\n" + "\n".join(lines)

    def _without(
        self, query: Query, result: QueryResult, book: EvidenceBook, scope: str,
        session: Session, tools: ToolContext,
    ) -> Reply:  # fmt: skip
        """哪些供应商今年没有开票: the caller's companies (of the kind asked) that have none."""
        kept = [f for f in query.filters if f.dimension in ("role", "industry", "region")]
        clients = run_query(tools, Query(
            metrics=[COUNT_METRIC], filters=kept, group_by=["enterprise"], descending=False,
        ), self.catalogue)  # fmt: skip
        having = {r["enterprise"] for r in result.rows if r.get(query.metrics[0])}
        rows = [r for r in clients.rows if r["enterprise"] not in having]
        client_records = records(clients, self.catalogue)[1:]
        by_id = {r["enterprise"]: rec for r, rec in zip(clients.rows, client_records, strict=False)}
        label = self.catalogue.metrics[query.metrics[0]].label
        summary = records(result, self.catalogue)[0]
        count = Record("metric", f"{summary.id}:without", summary.source,
                       {"total": len(rows)}, f"{label}为零的企业共 {len(rows)} 家")  # fmt: skip
        head = [f"统计口径：{period_text(result, self.catalogue)}；范围：{scope}"]
        filters = _filters_text(query, result, self.catalogue)
        head.append(
            f"筛选：{filters + '；' if filters else ''}{'截至数据日期' if result.snapshot else '统计期内'}没有{label}的企业"
        )
        lines = ["；".join(head) + "。" + book.cite_records([summary])]
        lines.append(f"符合条件的共 {len(rows)} 家企业{book.cite_records([count])}。")
        if rows:
            lines += ["| 序号 | 企业 |", "|---|---|"]
            for index, row in enumerate(rows, start=1):
                cite = book.cite_records([by_id[row["enterprise"]]])
                lines.append(f"| {index} | {row['enterprise_name']}{cite} |")
        checked = guard.check("\n".join(lines), book.items)
        reply = Reply(session.id, checked.text, INTENT, evidence=list(book.items))
        session.state.query = query.model_dump(mode="json")
        session.state.last_intent = INTENT
        session.state.pending = None
        return reply

    @staticmethod
    def forget(state: SessionState) -> None:
        """Another composer answered: a follow-up no longer refers to the last query (unless
        the turn only asked which company a query follow-up meant)."""
        if (state.pending or {}).get("intent") == INTENT:
            return
        state.query = state.previous_query = None


# -- composing -------------------------------------------------------------------------------------


def _filters_text(query: Query, result: QueryResult, catalogue: QueryCatalogue) -> str:
    parts = []
    for flt in query.filters:
        if flt.dimension == "enterprise":
            continue
        if flt.dimension == "overdue":
            days = flt.values[0] if flt.values and flt.values[0].isdigit() else ""
            parts.append(f"仅逾期超过 {days} 天的发票" if days else "仅逾期发票")
            continue
        dim = catalogue.dimensions[flt.dimension]
        names = VALUE_NAMES.get(flt.dimension, {})
        shown = "、".join(result.names.get(v) or names.get(v, v) for v in flt.values)
        parts.append(f"{dim.label}：{shown}")
    for threshold in query.thresholds:
        base, _, change = threshold.metric.partition("__")
        metric = catalogue.metrics[base]
        if change and not threshold.value:  # 同比下降: the change's sign, said in words
            word = "减少" if threshold.op in ("<", "<=") else "增加"
            parts.append(f"{metric.label}较对比期{word}")
            continue
        unit = "比例" if change == "change_rate" else metric.unit
        label = metric.label + CHANGE_LABEL.get(change, "")
        parts.append(f"{label}{threshold.op}{value_text(threshold.value, unit)}")
    return "；".join(parts)


def _order_text(query: Query, result: QueryResult, catalogue: QueryCatalogue) -> str:
    if query.pick:
        when = TIME_LABEL.get(str(catalogue.metrics[query.metrics[0]].time), "日期")
        return f"按{when}取{_pick_word(query)}的 {len(result.rows)} 笔"
    if not query.group_by or query.metrics == [COUNT_METRIC]:
        return ""  # a count lists its companies in no particular order: claim none
    if query.order_by is None and any(g in TIME_DIMS for g in query.group_by):
        return "按时间先后排列"
    base, _, change = query.order_metric.partition("__")
    label = catalogue.metrics[base].label + CHANGE_LABEL.get(change, "")
    direction = "从高到低" if query.descending else "从低到高"
    text = f"按{label}{direction}排列"
    if query.limit and result.total > len(result.rows):
        text += f"，列出前 {len(result.rows)} 项（共 {result.total} 项）"
    else:
        text += f"，共 {result.total} 项"
    return text


def _cell(row: dict[str, Any], dim: str) -> str:
    value = row.get(f"{dim}_name") or row.get(dim)
    return str(VALUE_NAMES.get(dim, {}).get(value, value)) + partial_text(row, dim)


def compose(
    result: QueryResult,
    book: EvidenceBook,
    catalogue: QueryCatalogue,
    scope: str,
    *,
    counted: bool = False,
    notes: list[str] | None = None,
    shares_asked: bool = False,
) -> str:
    """The answer text: what was computed, then the figures (a table for a list).

    ``counted``: a "how many companies" question, answered with the count first; ``notes``:
    what the answer must say it did differently from what was asked (a condition it dropped).
    """
    query = result.query
    recs = records(result, catalogue)
    summary, rows = recs[0], recs[1:]
    when = period_text(result, catalogue)
    ids = query.filter_values("enterprise")
    subject = "、".join(result.names.get(i, i) for i in ids) if ids else scope
    head = [f"统计口径：{when}；范围：{subject}"]
    balances = [
        catalogue.metrics[m].label for m in query.metrics
        if m != COUNT_METRIC and all(b.snapshot for b in _bases(m, catalogue))
    ]  # fmt: skip
    if balances and not result.snapshot:  # a balance beside flows is not of the flows' period
        head.append(f"{'、'.join(balances)}为截至 {result.as_of.isoformat()} 的余额")
    filters = _filters_text(query, result, catalogue)
    if filters:
        head.append(f"筛选：{filters}")
    if _mirrored(query):
        head.append("两个方向分别统计")
        if query.group_by:  # each column is one direction: say which
            head += [
                f"{catalogue.metrics[m].label}为{d}"
                for pair in _mirrored(query)
                for m, d in zip(pair, _directions(result, pair), strict=True)
            ]
    order = _order_text(query, result, catalogue)
    if order:
        head.append(order)
    if result.compare_period is not None:
        head.append(f"对比期：{result.compare_period.text}")
    lines = ["；".join(head) + "。" + book.cite_records([summary])]
    lines += [f"说明：{note}。" for note in notes or []]
    metrics = [catalogue.metrics[m] for m in query.metrics if m != COUNT_METRIC]
    if counted:
        noun = "家企业" if "enterprise" in query.group_by else "项"
        lines.append(f"符合条件的共 {result.total} {noun}{book.cite_records([summary])}。")
        if result.total > len(result.rows):
            lines[-1] += f"下表列出其中 {len(result.rows)} 家。"
    if not result.rows:
        lines.append("没有符合条件的数据。")
        return "\n".join(lines)
    if query.pick and len(result.rows) == 1:
        lines.append(_picked(result, subject, catalogue) + book.cite_records([rows[0]]) + "。")
        return "\n".join(lines)
    pairs = _mirrored(query)
    if pairs and not query.group_by:
        lines += _both_ways(result, pairs, rows[0], book, catalogue)
        return "\n".join(lines)
    if not query.group_by:
        row, record = result.rows[0], rows[0]
        parts = [f"{m.label} {value_text(row.get(m.key), m.unit)}" for m in metrics]
        lines.append(f"{subject}：" + "，".join(parts) + book.cite_records([record]) + "。")
        lines += _comparison(row, metrics, book, record)
        return "\n".join(lines)
    columns = _columns(query)
    header = ["序号", *[c for _, c in columns], *[m.label for m in metrics]]
    if result.compare_period is not None:
        header += [f"{m.label}（对比期）" for m in metrics]
    _, _, change = query.order_metric.partition("__")
    if change:  # ranked by the change: show it
        header.append(f"{metrics[0].label}{'增长率' if change == 'change_rate' else '增加额'}")
    shares = [m for m in metrics if shares_asked and f"{m.key}__share" in result.rows[0]]
    header += [f"占全部 {result.total} 项{m.label}的比例" for m in shares]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for index, (row, record) in enumerate(zip(result.rows, rows, strict=False), start=1):
        cells = [str(index), *[_cell(row, key) for key, _ in columns]]
        cells += [value_text(row.get(m.key), m.unit) for m in metrics]
        if result.compare_period is not None:
            cells += [value_text(row.get(f"{m.key}__previous"), m.unit) for m in metrics]
        if change:
            unit = "比例" if change == "change_rate" else metrics[0].unit
            cells.append(value_text(row.get(f"{metrics[0].key}__{change}"), unit))
        cells += [value_text(row.get(f"{m.key}__share"), "比例") for m in shares]
        cells[-1] += book.cite_records([record])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _picked(result: QueryResult, subject: str, catalogue: QueryCatalogue) -> str:
    """最近一笔回款: one sentence with its date, amount, counterparty and invoice."""
    query, row = result.query, result.rows[0]
    metric = catalogue.metrics[query.metrics[0]]
    amount = value_text(row.get(metric.key), metric.unit)
    who = row.get("counterparty_name") or row.get("counterparty")
    word = _pick_word(query)
    if "payment" in query.group_by:
        if metric.key == "inflow":
            return (f"{subject}{word}一笔回款在 {row['paid_date']}：{who} 付款 {amount}"
                    f"（发票 {row['invoice_no']}）")  # fmt: skip
        return (f"{subject}{word}一笔付款在 {row['paid_date']}：付给 {who} {amount}"
                f"（发票 {row['invoice_no']}）")  # fmt: skip
    status = INVOICE_STATUS.get(row["status"], row["status"])
    return (f"{subject}{word}一张发票在 {row['issue_date']} 开出：{row['invoice']}，购方 {who}，"
            f"{metric.label} {amount}，到期日 {row['due_date']}，状态：{status}")  # fmt: skip


# Each mirrored pair (see query_parser.MIRRORED): what it measures, and each direction's words
# with A the company in scope and B its counterparty.
BOTH_WAYS = {
    ("invoice_amount", "purchase_invoice_amount"): ("开票金额（含税）", "{a} 开给 {b}", "{b} 开给 {a}"),
    ("inflow", "outflow"): ("付款金额", "{b} 付给 {a}", "{a} 付给 {b}"),
    ("invoice_count", "purchase_invoice_count"): ("发票张数", "{a} 开给 {b}", "{b} 开给 {a}"),
    ("received_order_amount", "order_amount"): ("订单金额", "{b} 向 {a} 下单", "{a} 向 {b} 下单"),
    ("received_order_count", "order_count"): ("订单笔数", "{b} 向 {a} 下单", "{a} 向 {b} 下单"),
}  # fmt: skip


def _mirrored(query: Query) -> list[tuple[str, str]]:
    """The mirrored pairs of a question about two companies' trade (远航汽配和华东汽车之间)."""
    if len(query.filter_values("enterprise")) != 1 or len(query.filter_values("counterparty")) != 1:
        return []
    return [pair for pair in BOTH_WAYS if all(m in query.metrics for m in pair)]


def _both_ways(
    result: QueryResult, pairs: list[tuple[str, str]], record: Record, book: EvidenceBook,
    catalogue: QueryCatalogue,
) -> list[str]:  # fmt: skip
    """Each direction of the trade between two companies, and both together (and the same for
    the comparison period when 同比 / 环比 was asked)."""
    row = result.rows[0]
    lines = []
    for pair in pairs:
        label, *_ = BOTH_WAYS[pair]
        directions = _directions(result, pair)
        unit = catalogue.metrics[pair[0]].unit
        totals = []
        for suffix, when in (("", "统计期内"), ("__previous", "对比期内")):
            if suffix and f"{pair[0]}{suffix}" not in row:
                continue
            values = [row.get(f"{m}{suffix}") or 0 for m in pair]
            total = sum(values, Decimal(0) if unit == "元" else 0)
            totals.append(total)
            both = Record(
                "metric", f"{record.id}:{pair[0]}{suffix}:both_ways",
                f"计算·双向合计（{SOURCE}）",
                {"total": total, **dict(zip(pair, values, strict=True))},
                f"{when}{label}：{'；'.join(directions)}，双向合计 {value_text(total, unit)}",
            )  # fmt: skip
            cite = book.cite_records([record])
            parts = [
                f"{d} {value_text(v, unit)}{cite}" for d, v in zip(directions, values, strict=True)
            ]
            text = f"{'对比期' if suffix else ''}{label}：{'；'.join(parts)}；"
            text += f"双向合计 {value_text(total, unit)}{book.cite_records([both])}。"
            present = [d for d, v in zip(directions, values, strict=True) if v]
            if len(present) == 1:
                text += f"{when}只有“{present[0]}”这一个方向有记录。"
            elif not present:
                text += f"{when}两个方向都没有记录。"
            lines.append(text)
        if len(totals) == 2:
            now, before = totals
            change = now - before
            record_change = Record(
                "metric", f"{record.id}:{pair[0]}:both_ways_change", f"计算·双向合计变化（{SOURCE}）",
                {"change_abs": abs(change), "rate_abs": share(abs(change), abs(before)) if before else None},
                f"{label}双向合计较对比期的变化",
            )  # fmt: skip
            text = f"{label}双向合计较对比期{'增加' if change >= 0 else '减少'} "
            text += value_text(abs(change), unit)
            if before:
                text += f"（{value_text(share(abs(change), abs(before)), '比例')}）"
            lines.append(text + book.cite_records([record_change]) + "。")
    return lines


def _directions(result: QueryResult, pair: tuple[str, str]) -> list[str]:
    """远航汽配 开给 华东汽车, 华东汽车 开给 远航汽配: each side of a mirrored pair in words."""
    query = result.query
    names = {
        "a": result.names.get(query.filter_values("enterprise")[0], ""),
        "b": result.names.get(query.filter_values("counterparty")[0], ""),
    }
    return [way.format(**names) for way in BOTH_WAYS[pair][1:]]


def _pick_word(query: Query) -> str:
    """最早; 最近 up to the data's date, 最后 within a period the question named (9月最后一笔)."""
    if query.pick == "earliest":
        return "最早"
    return "最后" if query.period is not None else "最近"


def _bases(name: str, catalogue: QueryCatalogue) -> list[Any]:
    return [catalogue.metrics[b] for b in catalogue.metrics[name].bases(catalogue)]


def _columns(query: Query) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for dim in query.group_by:
        if dim == "payment":
            payer = "付款方" if query.metrics[0] == "inflow" else "收款方"
            out += [("paid_date", "付款日"), ("counterparty", payer), ("invoice_no", "发票号")]
        elif dim == "invoice":
            out += [("invoice", "发票号"), ("counterparty", "购方"), ("issue_date", "开票日"),
                    ("due_date", "到期日"), ("status", "状态")]  # fmt: skip
        else:
            label = {"enterprise": "企业", "counterparty": "交易对手", "role": "企业类型",
                     "industry": "行业", "region": "地区", "product": "融资产品", "status": "状态",
                     "risk_kind": "风险类型", "month": "月份", "quarter": "季度", "year": "年度"}  # fmt: skip
            out.append((dim, label.get(dim, dim)))
    return out


def _comparison(
    row: dict[str, Any], metrics: list[Any], book: EvidenceBook, record: Any
) -> list[str]:
    lines = []
    for m in metrics:
        if f"{m.key}__previous" not in row:
            continue
        change = row.get(f"{m.key}__change")
        rate = row.get(f"{m.key}__change_rate")
        text = f"对比期{m.label} {value_text(row[f'{m.key}__previous'], m.unit)}"
        if change is not None:
            word = "增加" if change >= 0 else "减少"
            text += f"，{word} {value_text(abs(change), m.unit)}"
            if rate is not None:
                text += f"（{value_text(abs(rate), '比例')}）"
        lines.append(text + book.cite_records([record]) + "。")
    return lines


__all__ = ["INTENT", "QueryLayer", "compose", "row_label"]
