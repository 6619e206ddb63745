"""The offline parser: a manager's Chinese question -> a :class:`Query` (it never touches SQL).

It reads the period with the one time grammar, companies with the caller's directory (longest
match first, aliases; the message is already simplified), metrics, roles, industries and
regions from dictionaries, numbers with units (500万, 1.2亿, 百分之八十), comparison and ranking
words (超过, 不低于, 前三, 最大) and portfolio words (我名下, 哪些供应商). A follow-up inherits the
last query and changes only what it names. When two readings tie it asks one short question.

>>> parse_amount("500万"), parse_amount("1.2亿"), parse_amount("百分之八十")
(Decimal('5000000'), Decimal('120000000.0'), Decimal('0.8'))
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from importlib import resources
from itertools import pairwise
from typing import Any

import yaml
from sqlalchemy import select

from finassist.assistant.slots import PRONOUNS, has_pronoun, residual_name
from finassist.finance.base import ToolContext
from finassist.finance.directory import EnterpriseDirectory, Match
from finassist.finance.query.catalogue import QueryCatalogue, load_query_catalogue
from finassist.finance.query.compiler import ALL_RECORDS
from finassist.finance.query.model import PeriodSpec, Query, Threshold
from finassist.finance.query.periods import (
    Period,
    TimeReading,
    ahead_default,
    last_months,
    read_ahead,
    read_time,
    strip_time,
)
from finassist.numerals import chinese_numeral
from finassist.store import schema

PORTFOLIO = re.compile(
    r"我名下|我的客户|我管的|我负责的|名下|哪些|哪家|哪几家|哪个|谁|排名|排行|排序|前\s*\d+|前[一二两三四五六七八九十]+|"
    r"top\s*\d+|最大|最高|最多|最少|最低|最小|最快|最慢|列出|列一下|有哪些客户|所有客户|全部客户"
)
_KINDS = r"(?:客户|企业|公司|供应商|经销商|分销商|核心企业)"
CLIENT_LIST = re.compile(
    rf"(?:我名下|我的|我管的|我负责的|列出|列一下).{{0,4}}{_KINDS}|有哪些{_KINDS}|"
    rf"(?:所有|全部)的?{_KINDS}"
)
_NUM = r"(\d+(?:\.\d+)?|[零一二两三四五六七八九十百千万亿点]+)"
TOP_N = re.compile(
    rf"(?:前|top\s*|最大的|最高的|最多的|最少的|最小的|最低的){_NUM}\s*(?:名|家|张|个|位|笔)?|"
    rf"最(?:大|高|多|少|小|低|快|慢|严重)的?{_NUM}\s*(?:名|家|张|个|位|笔)",
    re.I,
)
N_TOP = re.compile(rf"{_NUM}\s*(?:家|张|个)(?:金额|规模)?最")
THRESHOLD = re.compile(
    r"(超过|大于|高于|多于|不低于|不少于|至少|达到|低于|少于|小于|不超过|不高于|不到)\s*"
    r"(百分之[零一二两三四五六七八九十百点]+|\d+(?:\.\d+)?\s*%|\d+(?:\.\d+)?\s*(?:万亿|万|亿|元|天)?|"
    r"[零一二两三四五六七八九十百千点]+\s*(?:万亿|万|亿|元|天)?)"
)
POST_THRESHOLD = re.compile(
    r"(\d+(?:\.\d+)?\s*(?:万|亿|元)|[零一二两三四五六七八九十百千点]+(?:万|亿))\s*(以上|以下)"
)
OPS = {
    "超过": ">", "大于": ">", "高于": ">", "多于": ">", "不低于": ">=", "不少于": ">=",
    "至少": ">=", "达到": ">=", "低于": "<", "少于": "<", "小于": "<", "不超过": "<=",
    "不高于": "<=", "不到": "<", "以上": ">=", "以下": "<=",
}  # fmt: skip
FLIPPED = {">": "<", ">=": "<=", "<": ">", "<=": ">="}  # the same bound on the negated value
# 最近一笔回款 / 上次开票 / 最早的三张发票: the records themselves, newest (oldest) first.
PICK = re.compile(
    rf"(?P<word>最近|最新|最后|最早|第)的?\s*(?P<n>{_NUM}|几)?\s*(?:笔|次|张)(?!数)|"
    r"上一(?:笔|次|张)|上次(?=回款|收款|付款|开票|开了|收到|付给)"  # not 上次说的那家
)
PICKED_METRICS = {"inflow": "payment", "outflow": "payment", "invoice_amount": "invoice",
                  "open_amount": "invoice", "overdue_amount": "invoice"}  # fmt: skip
PICK_OTHER = re.compile(r"采购|订单|下单|融资|放款|贷款|发货")
PICK_UNSUPPORTED = (
    "目前能逐笔查看的是回款（资金流入）、付款（资金流出）和发票，例如：恒泰精密最近一笔回款是"
    "什么时候、恒泰精密最近三张发票。"
)
# 哪些客户回款最多 asks for several (a ranked list); 哪个 / 哪家 / 谁 for one.
PLURAL = re.compile(r"哪些|哪几|有哪|都有谁|几家|几个")
ASCENDING = re.compile(r"最少|最低|最小|最快|倒数|从低到高|从小到大|升序")
SUPERLATIVE = re.compile(r"最大|最高|最多|最少|最低|最小|最慢|最快|最严重|最长|最短")
# 华东汽车的供应商 / 华东汽车的客户: companies trading with the one named.
RELATION = re.compile(
    # 华东汽车从哪些供应商采购最多 / 华东汽车向哪几家供应商买得最多: the same relation
    rf"\s*(?:(?:从|向|跟|对|在)\s*(?:哪些|哪几家|哪家|哪个))?"
    rf"\s*的?\s*(?:最大|最主要|主要|前{_NUM}大?|前{_NUM}名)?的?\s*"
    r"(?P<rel>上游供应商|供应商|上游|下游经销商|经销商|下游客户|下游|客户|买方|购方)"
)
# What is never part of a company's name, stripped before a leftover is taken for one.
NOT_A_NAME = re.compile(
    r"[\d零一二两三四五六七八九十百千万亿]+\s*[家个名位张笔]?|几家|多少|几个|一共|总共|所有|全部|"
    r"各家|每家|合计|总额|总计|汇总|加起来|总和|大于|小于|超过|不到|以上|以下|排名|排行|哪家|哪些|谁|里|中"
)
MIN_UNKNOWN_NAME = 3
NET_OUTFLOW = "净流出"
MATURING = re.compile(r"(?<![未逾])到期")
MATURING_METRICS = ("maturing_amount", "maturing_count")
WHEN = re.compile(r"什么时候|何时|哪天|哪一天|几号|到期日|日期")
LOAN_WORDS = re.compile(r"融资|贷款|借款|放款|保理")
INVOICE_WORDS = re.compile(r"发票|应收|票据|汇票|账款")
# 付给供应商 / 从经销商收到: a kind of company after a trade word is the counterparty's kind
TO_KIND = re.compile(
    r"(?:付给|开给|卖给|给|向|从|对|收到)(?:它的|他们的|其|自己的)?"
    r"(?:供应商|经销商|分销商|核心企业|核心厂商|主机厂)"
)
NEVER = re.compile(r"从来|从未|从没|一直|做过|办过|用过|申请过")
HOW_MANY_INVOICES = re.compile(r"多少张|几张")
NEW_WORDS = re.compile(r"新增|新发生|新放款?|新开")
FLOW_OF = {"financing_balance": "financing_amount", "open_amount": "invoice_amount"}
FINANCING_TABLE = "financing"  # chain financing: applied for by suppliers/dealers, a core named
TOP_BUYERS = re.compile(r"大客户|客户占比|客户集中")
SHARES = re.compile(
    r"占比|比重|份额|集中度|占多少|占.{0,10}(?:比例|百分之几|几成)"
)  # each company's share of the whole
# 逾期超过30天 / 逾期90天以上: how long overdue, a filter on the invoices (not an amount).
OVERDUE_DAYS = re.compile(
    rf"逾期\s*(?:超过|大于|多于|满|达到|超|在)?\s*{_NUM}\s*(?:天|日)(?:以上|及以上)?|"
    rf"(?:超过|超)\s*{_NUM}\s*(?:天|日)(?:以上)?的?逾期"
)
# 同比增长最多的供应商: ranked by the change against the comparison period.
GROWTH = re.compile(
    r"(增长|增加|上涨|涨|下降|减少|下滑|降)(?:得)?(?:最多|最快|最大|最猛|最厉害)|(增幅|降幅|跌幅)最大"
)
# 哪些供应商今年没有开票: the companies with none of it (not a ranking of those with some).
WITHOUT = re.compile(
    r"(?:没有|没|未|无)(?:任何|过|做过|办过|用过|申请过)?(?:开票|开过票|开过发票|回款|收款|订单|下单|融资|贷款|逾期|风险)"
)
# 营业收入5亿元 / 某行 / 甲公司: figures or a company the question itself supplies (a calculation).
GIVEN = re.compile(r"\d\s*(?:万亿|亿|万)?元|\d\s*%|某|甲|乙|丙|假设|如果")
# 华东汽车和远航汽配: two companies side by side; 卖给 / 之间: one trading with the other.
CONJUNCTION = re.compile(r"和|与|及|以及|跟|还有|、|，|,|/")
TRADE = re.compile(r"卖给|卖|买|之间|往来|交易|对|向|给|从|销往|采购")
# 远航汽配和华东汽车之间 / 两家的往来: both directions of their trade.
BETWEEN = re.compile(r"之间|相互|互相|双方|彼此|两家的往来|两家往来|来往")
# Each pair: the first company selling to (or paid by) the second, then the other way round.
MIRRORED = [("invoice_amount", "purchase_invoice_amount"), ("inflow", "outflow"),
            ("invoice_count", "purchase_invoice_count"),
            ("received_order_amount", "order_amount"), ("received_order_count", "order_count")]  # fmt: skip
MIRROR_OF = {"sales_amount": "invoice_amount"}
# 9月份比8月份多还是少 / 两个季度对比: a question naming two periods asks for both, compared.
COMPARED = re.compile(
    r"比.{0,12}(?:多|少|高|低|增|减|好|差|快|慢)|相比|对比|哪个(?:多|高|大)|差(?:了)?多少|变化"
)
# 看看…占比 (no 多少): the split shown, which the chart composer draws.
SHOW = re.compile(r"^(?:请|帮我)?(?:看看|看一下|看下|展示|显示)")
ASKED = re.compile(r"多少|几|是否|吗|哪")
WHICH_TIME = re.compile(r"哪一?个?(?:月|季度|季|年)")
# 同比下降的供应商: companies whose figure fell against the comparison period (not a ranking).
DIRECTION = re.compile(
    r"(?:同比|环比|比去年|较去年|比上(?:个|一)?(?:月|季度|年|期)|较上期)[^，。？?]{0,6}?"
    r"(下降|减少|下滑|降低|下跌|增长|增加|上升|上涨)(?!最|得最)"
)
BOOK = re.compile(r"全部|整体|名下|所有|总")  # 占我名下全部的比例: the whole book is the whole
# 合计 / 总额: one figure over the whole scope, not a list of companies.
TOTAL = re.compile(r"合计|总额|总计|汇总|加起来|一共|总共|总和")
INVOICE_LIST = re.compile(
    r"哪几张|哪些发票|[\d一二两三四五六七八九十]\s*张发票|发票明细|发票清单|列出.{0,6}发票|哪张"
)
# "有哪些应收发票": a list when a calendar period is named (without one the invoice composer
# lists what is open now).
INVOICE_LIST_LOOSE = re.compile(r"哪些.{0,4}发票|发票有哪些|什么发票")
_WHO = r"(?:供应商|经销商|分销商|核心企业|核心厂商|主机厂|客户|企业|公司)"
# 我名下有几家经销商 / 经销商有多少家 / 客户数量: how many companies (of a kind, or matching a
# screen) the manager's book holds.
COUNT = re.compile(
    rf"(?<!哪)(?:几|多少)\s*(?:家|个|户)\s*(?:\S{{0,4}}?){_WHO}|{_WHO}(?:一共|总共|共)?(?:有)?\s*"
    rf"(?:几家|多少家|几个|多少个|多少户|数量|家数|个数|总数)"
)
# 开票最多的几家供应商: the top few (a ranking), not how many there are.
FEW_TOP = re.compile(r"最\S{1,3}?的?几\s*(?:家|个|位)")
ONLY_OVERDUE = re.compile(r"只看逾期|仅看逾期|只要逾期|逾期的(?:呢|发票)?$|其中逾期")
# A chart, a side-by-side comparison or a report is another composer's (charts, reports).
NOT_OURS = re.compile(
    r"图|画|可视化|比较|走势|趋势|报告|推荐|利息|利率|测算|计算|(?<![按分各])产品|方案|适合|额度|发给|导出|"
    r"下载|发送|异常"
)
# 订单融资的申请条件有哪些 / 提前回款有哪些费用: a product's terms, which the product manual and the
# catalogue answer, not the caller's financing records of that product.
PRODUCT_TERMS = re.compile(
    r"材料|条件|流程|步骤|手续|要求|准入|门槛|费用|收费|费率|[怎如]么?申请|[怎如]么?办理|如何申请|"
    r"如何办理|什么是|是什么(?!时候)|需要什么|区别|介绍|适用"
)
# 今年做了多少笔反向保理 / 哪些客户做了订单融资 / 今年反向保理融资了多少: a product named with
# no metric word is read as its financing records when the message asks how many, or says they
# happened (做了); 反向保理有多少 (balance or amount?) asks which.
PRODUCT_COUNT = re.compile(r"多少笔|几笔|笔数|多少单|几单")
PRODUCT_DONE = re.compile(
    r"做了|做过|办了|办过|用了|用过|申请了|开展了|发生了|融资了|融了|放款了|放了|叙做"
)
EVER = re.compile(r"做过|办过|用过|叙做过|融过|有没有做|是否做|有没有办|曾经|历史上|以前")
PRODUCT_HOW_MUCH = re.compile(r"有多少|是多少|一共多少|总共多少|合计多少")
# 提前回款 is read as a metric (提前回款申请次数), but it is a product too: 提前回款有哪些费用
# asks about its terms.
PRODUCT_AS_METRIC = re.compile(r"提前(?:回款|收款|付款)(?!申请)")
FOLLOW_UP = re.compile(
    r"^(?:那|那么|换成|换|再看|再|只看|仅看|只要|按|拆|分|改成|改|看看|如果|同样)|呢[？?。]*$"
)
CLIENT_COUNT = "client_count"
GROSS, NET = "invoice_amount", "sales_amount"  # 开票金额 including / excluding tax
COUNT_AMOUNT = {"invoice_count": GROSS, "order_count": "order_amount",
                "received_order_count": "received_order_amount", "overdue_count": "overdue_amount",
                "financing_count": "financing_amount"}  # fmt: skip
RECEIVED = {"order_amount": "received_order_amount", "order_count": "received_order_count"}
DEFAULT_SCREEN_LIMIT = 10
DEFAULT_LIST_LIMIT = 5
PLURAL_TOP_LIMIT = 5  # 哪些…最多 without a number: the top five, the heading says so
CLIENT_LIST_LIMIT = 50
# The older composers answer these intents; a follow-up that names a calendar period goes to
# the query layer with the metrics that intent was about.
INTENT_METRICS = {
    "cashflow": ["inflow", "outflow", "net_flow"],
    "invoices": ["open_amount", "overdue_amount"],
    "payment_behavior": ["avg_collection_days"],
    "concentration": ["top_customer_share"],
    "risk": ["risk_event_count"],
    "post_loan": ["financing_balance"],
}
# Metrics the older composers answer as well (for one named company, last-N windows). Not the
# financing figures: the post-loan composer lists records, and a question in loan words
# (华东汽车的贷款余额是多少) may not reach it, so the query layer answers those figures itself.
HANDLED = {"inflow", "outflow", "net_flow", "open_amount", "overdue_amount", "overdue_count",
           "avg_collection_days", "top_customer_share", "risk_event_count",
           "early_payment_requests", "order_amount"}  # fmt: skip


@dataclass(frozen=True)
class Words:
    """The parser's dictionaries (``data/query_words.yaml``), longest word first."""

    metrics: list[tuple[str, list[str]]]
    ambiguous: dict[str, list[str]]
    roles: list[tuple[str, str]]
    group_by: list[tuple[str, str]]
    topics: list[tuple[str, list[str]]]
    general: list[str]
    products: list[tuple[str, str]]


@lru_cache(maxsize=1)
def words() -> Words:
    """The dictionaries, read once."""
    text = (
        resources.files("finassist.assistant").joinpath("data/query_words.yaml").read_text("utf-8")
    )
    raw = yaml.safe_load(text)

    def by_length(mapping: dict[str, Any]) -> list[tuple[str, Any]]:
        return sorted(mapping.items(), key=lambda kv: -len(kv[0]))

    metrics = [(w, m if isinstance(m, list) else [m]) for w, m in by_length(raw["metrics"])]
    topics = dict(raw["topics"])
    general = topics.pop("general")
    return Words(
        metrics, raw["ambiguous"], by_length(raw["roles"]), by_length(raw["group_by"]),
        by_length(topics), general, by_length(raw["products"]),
    )  # fmt: skip


@dataclass
class Vocabulary:
    """Values of the caller's data that a question may name: industries and regions."""

    industries: list[str]
    regions: list[tuple[str, str]]  # (surface, value to match inside enterprises.region)

    @classmethod
    def load(cls, ctx: ToolContext) -> Vocabulary:
        e = schema.enterprises
        with ctx.read() as conn:
            rows = conn.execute(select(e.c.industry, e.c.region).distinct()).all()
        industries = sorted({r.industry for r in rows}, key=len, reverse=True)
        regions: dict[str, str] = {}
        for row in rows:
            for part in re.findall(r".+?(?:省|自治区|市|区|县)", row.region):
                regions[part] = part
                short = re.sub(r"(省|自治区|市|区|县)$", "", part)
                if len(short) >= 2:
                    regions.setdefault(short, part)
        return cls(industries, sorted(regions.items(), key=lambda kv: -len(kv[0])))


@dataclass
class Parsed:
    """What the parser made of a message: a query, or one question to ask, or nothing."""

    query: Query | None = None
    question: str | None = None
    options: list[dict[str, Any]] = field(default_factory=list)
    enterprise: dict[str, str] | None = None
    period: Period | None = None
    count: bool = False  # 几家: the answer leads with how many companies
    without: bool = False  # 没有开票: the companies whose metric is nil
    unknown: str | None = None  # a company named that the caller cannot see (or that is not)
    notes: list[str] = field(default_factory=list)  # what the answer must say it changed
    shares: bool = False  # 占比: each company's share of the whole beside its amount
    whole_book: bool = False  # no company named nor in focus: the caller's whole book
    book_share: bool = False  # 恒泰精密开票金额占我名下全部的比例: its share of the whole book
    compare: list[Query] = field(default_factory=list)  # 9月比8月多还是少: both, side by side


# -- numbers ---------------------------------------------------------------------------------------

_UNITS = {
    "万亿": Decimal(10) ** 12,
    "万": Decimal(10) ** 4,
    "亿": Decimal(10) ** 8,
    "元": Decimal(1),
}


def parse_amount(text: str) -> Decimal | None:
    """``500万`` -> 5000000, ``1.2亿``, ``百分之八十`` -> 0.8, ``80%`` -> 0.8, ``三十天`` -> 30."""
    text = text.replace(" ", "")
    if text.startswith("百分之"):
        value = chinese_numeral(text[3:])
        return None if value is None else value / 100
    if text.endswith("%"):
        try:
            return Decimal(text[:-1]) / 100
        except InvalidOperation:
            return None
    text = text.removesuffix("天")
    unit = Decimal(1)
    for name, factor in _UNITS.items():
        if text.endswith(name) and not (name == "万" and text.endswith("万亿")):
            unit, text = factor, text[: -len(name)]
            break
    try:
        return Decimal(text) * unit
    except InvalidOperation:
        value = chinese_numeral(text)
        return None if value is None else value * unit


def _count(text: str) -> int | None:
    value = parse_amount(text)
    return int(value) if value is not None and value == int(value) and value > 0 else None


# -- reading one message ---------------------------------------------------------------------------


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + "　" * (end - start) + text[end:]
    return text


def _find_words(text: str, table: list[tuple[str, Any]]) -> list[tuple[int, str, Any]]:
    """(position, word, value) of every dictionary word, longest first, without overlaps."""
    found: list[tuple[int, str, Any]] = []
    taken: list[tuple[int, int]] = []
    for word, value in table:
        for match in re.finditer(re.escape(word), text):
            span = match.span()
            if all(span[1] <= s or span[0] >= e for s, e in taken):
                taken.append(span)
                found.append((span[0], word, value))
    return sorted(found, key=lambda f: f[0])


@dataclass
class Reading:
    """Everything a message names, before it is turned into a query."""

    time: TimeReading
    enterprises: list[Match]
    metrics: list[str]
    ambiguous: list[str] | None
    roles: list[str]
    products: list[str]
    industries: list[str]
    regions: list[str]
    group_by: list[str]
    thresholds: list[tuple[str, Decimal]]
    limit: int | None
    ascending: bool
    superlative: bool
    invoice_list: bool
    only_overdue: bool
    portfolio: bool
    client_list: bool
    pronoun: bool
    count: bool
    total: bool
    overdue_days: int | None
    time_text: str  # the message itself, for the words that only shape the answer (哪个月)
    direction: str | None  # 同比下降 -> "down", 同比增长 -> "up" (a screen on the change)
    growth: tuple[str, bool] | None  # ("change" | "change_rate", descending)
    pick: tuple[str, int | None] | None = (
        None  # 最近三笔 -> ("latest", 3); 最早一张 -> ("earliest", 1)
    )
    # 华东汽车付给供应商的钱: a kind of company the named one is not is the other side's kind
    counter_roles: list[str] = field(default_factory=list)


def read(text: str, directory: EnterpriseDirectory, vocab: Vocabulary, as_of: date) -> Reading:
    """Read every part of a message the parser understands."""
    time = read_time(text, as_of)
    rest = _blank(text, time.spans)
    overdue_days = None
    days = OVERDUE_DAYS.search(rest)
    if days:
        overdue_days = _count(next(g for g in days.groups() if g))
        rest = _blank(rest, [days.span()])
    enterprises = [m for m in directory.scan(rest)]
    rest = _blank(rest, [(m.start, m.end) for m in enterprises])
    thresholds: list[tuple[str, Decimal]] = []
    spans = []
    for match in THRESHOLD.finditer(rest):
        value = parse_amount(match.group(2))
        if value is not None:
            thresholds.append((OPS[match.group(1)], value))
            spans.append(match.span())
    for match in POST_THRESHOLD.finditer(rest):
        value = parse_amount(match.group(1))
        if value is not None:
            thresholds.append((OPS[match.group(2)], value))
            spans.append(match.span())
    limit = None
    for pattern in (TOP_N, N_TOP):
        match = pattern.search(rest)
        if match and limit is None:
            index = next(i for i, g in enumerate(match.groups(), start=1) if g)
            limit = _count(match.group(index))
            # 回款最慢的三家: the superlative stays readable as part of its metric word
            spans.append((match.start(index) if index > 1 else match.start(), match.end()))
    rest = _blank(rest, spans)
    w = words()
    group_by = [value for _, _, value in _find_words(rest, w.group_by)]
    rest_no_group = _blank(
        rest, [(m.start(), m.end()) for g, _ in w.group_by for m in re.finditer(g, rest)]
    )
    ambiguous = None
    product_hits = _find_words(rest, w.products)
    product_spans = [(pos, pos + len(word)) for pos, word, _ in product_hits]
    # 哪些客户做了订单融资: the product, not the 订单 (orders) or 融资 inside its name (the
    # longest word wins); 订单融资余额 keeps 融资余额, which only overlaps it.
    metric_hits = [
        hit
        for hit in _find_words(rest_no_group, [*w.metrics, *((k, ["?"]) for k in w.ambiguous)])
        if not any(s <= hit[0] and hit[0] + len(hit[1]) <= e for s, e in product_spans)
    ]
    metrics: list[str] = []
    for _pos, word, values in metric_hits:
        if values == ["?"]:
            if not any(m in metrics for m in w.ambiguous[word]):
                ambiguous = w.ambiguous[word]
            continue
        metrics += [m for m in values if m not in metrics]
    if ambiguous and any(m in metrics for m in ambiguous):
        ambiguous = None
    leftover = _blank(rest_no_group, [(pos, pos + len(word)) for pos, word, _ in metric_hits])
    if "financing_amount" in metrics and re.search(r"多少笔|几笔", leftover):
        # 新增贷款有多少笔: the count of those financings (and the amount when asked for)
        metrics[metrics.index("financing_amount")] = "financing_count"
    if re.search(r"金额|多少钱", leftover):  # 开了多少张发票，金额多少: the amount as well
        for name in [m for m in metrics if m in COUNT_AMOUNT]:
            metrics.insert(metrics.index(name) + 1, COUNT_AMOUNT[name])
        metrics = list(dict.fromkeys(metrics))
    if NET in metrics and "含税" not in rest_no_group.replace("不含税", ""):
        metrics = [m for m in metrics if m != GROSS]  # 开票金额（不含税）: one metric
    if (
        MATURING.search(rest)
        and LOAN_WORDS.search(text)
        and not INVOICE_WORDS.search(text)
        and not WHEN.search(text)  # 贷款什么时候到期: each loan's dates (the post-loan answer)
    ):
        # 哪些客户的融资下个月到期: financing by its end date, the period read forward
        metrics, ambiguous = list(MATURING_METRICS), None
        ahead = read_ahead(text, as_of)
        if ahead is not None or time.period is None:
            time = replace(time, period=ahead or ahead_default(as_of), compare=None)
            if ahead is not None:
                rest = _blank(rest, [ahead.span])
    if ambiguous and WITHOUT.search(text):
        # 哪些客户从来没有做过融资: the clients with no financing, not "balance or amount?"
        metrics, ambiguous = ["financing_count"], None
        if time.period is None and NEVER.search(text):
            time = replace(time, period=Period(date.min, as_of, ALL_RECORDS))
    ascending = bool(ASCENDING.search(rest))
    if NET_OUTFLOW in rest and metrics[:1] == ["net_flow"]:
        # net_flow is 净流入: 净流出最多 is the lowest, 净流出超过100万 is below −100万
        ascending = not ascending
        thresholds = [(FLIPPED[op], -value) for op, value in thresholds]
    products = list(dict.fromkeys(v for _, _, v in product_hits))
    roles = list(dict.fromkeys(v for _, _, v in _find_words(_blank(rest, product_spans), w.roles)))
    industries = [i for i in vocab.industries if i in rest]
    regions = list(dict.fromkeys(v for _, _, v in _find_words(rest, vocab.regions)))
    return Reading(
        time=time,
        enterprises=enterprises,
        metrics=metrics,
        ambiguous=ambiguous,
        roles=roles,
        products=products,
        industries=industries[:1],
        regions=regions[:1],
        group_by=list(dict.fromkeys(group_by)),
        thresholds=thresholds,
        limit=limit,
        ascending=ascending,
        superlative=bool(SUPERLATIVE.search(rest)),
        invoice_list=bool(
            INVOICE_LIST.search(text)
            or (
                ((time.period and not time.period.relative) or overdue_days)
                and INVOICE_LIST_LOOSE.search(text)
            )
        ),
        only_overdue=bool(ONLY_OVERDUE.search(text)) and overdue_days is None,
        portfolio=bool(PORTFOLIO.search(rest))
        or limit is not None
        or bool(COUNT.search(rest))
        or (bool(roles) and not enterprises),
        client_list=bool(CLIENT_LIST.search(text)),
        count=bool(COUNT.search(rest)) and not FEW_TOP.search(rest),
        total=bool(TOTAL.search(rest)) and limit is None and not SUPERLATIVE.search(rest),
        overdue_days=overdue_days,
        time_text=text,
        direction=_direction(text),
        growth=_growth(text),
        pick=_pick(rest),
        # 其中逾期的呢: 其中 is "among those", not a company
        pronoun=has_pronoun(text.replace("其中", "")) and "他们名下" not in text,
    )


# -- from a reading to a query ---------------------------------------------------------------------


def _period_spec(period: Period | None) -> PeriodSpec | None:
    if period is None:
        return None
    return PeriodSpec(start=period.start, end=period.end, label=period.label)


def _build(
    reading: Reading, metrics: list[str], enterprise_id: str | None, catalogue: QueryCatalogue
) -> Query:
    filters: list[dict[str, Any]] = []
    if enterprise_id:
        filters.append({"dimension": "enterprise", "values": [enterprise_id]})
    if reading.roles:
        filters.append({"dimension": "role", "values": reading.roles})
    if reading.counter_roles:
        allowed = all(
            "counterparty_role" in catalogue.metrics[m].allowed(catalogue) for m in metrics
        )
        dimension = "counterparty_role" if allowed else "role"
        filters.append({"dimension": dimension, "values": reading.counter_roles})
    if reading.industries:
        filters.append({"dimension": "industry", "values": reading.industries})
    if reading.regions:
        filters.append({"dimension": "region", "values": reading.regions})
    if reading.products and all(
        "product" in catalogue.metrics[m].allowed(catalogue) for m in metrics
    ):
        filters.append({"dimension": "product", "values": reading.products})
    group_by = list(reading.group_by)
    limit = reading.limit
    if reading.overdue_days:
        filters.append({"dimension": "overdue", "values": [str(reading.overdue_days)]})
    ranked_invoices = (reading.superlative or reading.limit) and not group_by
    if reading.invoice_list and (enterprise_id or ranked_invoices):
        # 华东汽车9月份金额最大的三张发票; 上个月开票金额最大的发票是哪张 (the caller's book)
        unpaid = reading.overdue_days or {"open_amount", "overdue_amount"} & set(metrics)
        metrics = ["open_amount" if unpaid else "invoice_amount"]
        group_by = ["invoice"] if enterprise_id else ["enterprise", "invoice"]  # who issued it
        limit = limit or (_top_limit(reading) if reading.superlative else DEFAULT_LIST_LIMIT)
    elif not enterprise_id and not group_by and not reading.total:
        group_by = ["enterprise"]  # a screen lists companies; 按行业 lists industries
    if (
        _is_time_only(group_by)
        and reading.superlative
        and limit is None
        and WHICH_TIME.search(reading.time_text)
    ):
        limit = 1  # 哪个月回款最多: the one month
    if "enterprise" in group_by and not enterprise_id and limit is None:
        limit = (
            _top_limit(reading)
            if reading.superlative and not reading.thresholds
            else DEFAULT_SCREEN_LIMIT
        )
        if reading.client_list and not reading.superlative:
            limit = CLIENT_LIST_LIMIT
    if reading.only_overdue:
        if all("overdue" in catalogue.metrics[m].allowed(catalogue) for m in metrics):
            filters.append({"dimension": "overdue", "values": ["true"]})
        else:
            metrics = ["overdue_amount" if m == "open_amount" else m for m in metrics]
    thresholds = [
        Threshold(metric=_threshold_metric(metrics, value, catalogue), op=op, value=value)
        for op, value in reading.thresholds
    ]
    ranked = reading.limit is not None or reading.superlative
    if reading.direction and not reading.growth and group_by and "invoice" not in group_by:
        # 同比下降的供应商有哪些: only those whose figure fell, the largest fall first.
        down = reading.direction == "down"
        change = f"{metrics[0]}__change"
        return Query(
            metrics=metrics[:1],
            filters=filters,  # type: ignore[arg-type]
            thresholds=[*thresholds, Threshold(metric=change, op="<" if down else ">",
                                               value=Decimal(0))],
            group_by=group_by,
            period=_period_spec(reading.time.period),
            order_by=change,
            descending=not down,
            limit=limit,
            compare=reading.time.compare or "year_ago",  # type: ignore[arg-type]
        )  # fmt: skip
    if reading.growth and group_by and "invoice" not in group_by:
        kind, descending = reading.growth
        return Query(
            metrics=metrics[:1],
            filters=filters,  # type: ignore[arg-type]
            thresholds=thresholds,
            group_by=group_by,
            period=_period_spec(reading.time.period),
            order_by=f"{metrics[0]}__{kind}",
            descending=descending,
            limit=limit,
            compare=reading.time.compare or "year_ago",  # type: ignore[arg-type]
        )
    return Query(
        metrics=metrics,
        filters=filters,  # type: ignore[arg-type]
        thresholds=thresholds,
        group_by=group_by,
        period=_period_spec(reading.time.period),
        order_by=metrics[0]
        if ranked or "enterprise" in group_by or "invoice" in group_by
        else None,
        descending=not reading.ascending,
        limit=limit,
        compare=reading.time.compare,  # type: ignore[arg-type]
    )


def _top_limit(reading: Reading) -> int:
    """How many rows a superlative without a number asks for: 哪些…最多 is plural (a ranked
    list), 哪个 / 哪家 / 谁…最多 or 最多的客户 is the one row."""
    return PLURAL_TOP_LIMIT if PLURAL.search(reading.time_text) else 1


def _is_time_only(group_by: list[str]) -> bool:
    return bool(group_by) and all(g in ("month", "quarter", "year") for g in group_by)


def _threshold_metric(metrics: list[str], value: Decimal, catalogue: QueryCatalogue) -> str:
    """The metric a bare number compares with: a ratio for 0..1 values, else the first money
    (or day) metric."""
    for name in metrics:
        unit = catalogue.metrics[name].unit
        if (unit == "比例") == (value <= 1):
            return name
    return metrics[0]


def _entity(match: Match) -> dict[str, str]:
    return {"id": match.id, "name": match.name}


def _start(query: Query) -> date:
    return query.period.start if query.period else date.min


def _which_period(
    text: str, time: TimeReading, directory: EnterpriseDirectory, vocab: Vocabulary,
    as_of: date, state: Any, catalogue: QueryCatalogue,
) -> Parsed:  # fmt: skip
    """A message naming two periods: ask which, each option the message read with one of them."""
    assert time.period is not None
    periods = sorted([time.period, *time.others], key=lambda p: p.span)
    options = []
    for keep in periods:
        one = text
        for other in sorted((p for p in periods if p is not keep), key=lambda p: -p.span[0]):
            one = (
                one[: other.span[0]] + " " * (other.span[1] - other.span[0]) + one[other.span[1] :]
            )
        parsed = parse(one, directory=directory, vocab=vocab, as_of=as_of, state=state,
                       catalogue=catalogue)  # fmt: skip
        if parsed.query is None:
            return Parsed()
        options.append(parsed.query.model_dump(mode="json"))
    if len(options) == 2 and COMPARED.search(text):
        # 9月份的回款比8月份多还是少: both periods, side by side, earlier first.
        pair = sorted((Query.model_validate(o) for o in options), key=_start)
        return Parsed(compare=pair)
    listed = "；".join(f"{i}. {p.text}" for i, p in enumerate(periods, start=1))
    return Parsed(
        question=f"您的问题里有{len(periods)}个期间：{listed}。先看哪一个？请回复序号。",
        options=options,
    )


def parse(
    text: str,
    *,
    directory: EnterpriseDirectory,
    vocab: Vocabulary,
    as_of: date,
    state: Any,
    catalogue: QueryCatalogue | None = None,
) -> Parsed:
    """Turn a message into a :class:`Query`, a clarifying question, or nothing (``Parsed()``)
    when it is not a data question the query layer should take."""
    parsed = _parse(
        text, directory=directory, vocab=vocab, as_of=as_of, state=state, catalogue=catalogue
    )
    parsed.shares = parsed.query is not None and bool(SHARES.search(text))
    parsed.book_share = bool(
        parsed.shares and parsed.query is not None and not parsed.query.group_by
        and len(parsed.query.filter_values("enterprise")) == 1 and BOOK.search(text)
    )  # fmt: skip
    if parsed.shares and parsed.query is not None:
        parsed.query = _net_basis(parsed.query)
    return parsed


def _net_basis(query: Query) -> Query:
    """A share of sales is taken excluding tax, as the concentration answer and the report take
    it: 前五大客户占比 must read the same whichever answer gives it (the label says 不含税)."""
    if GROSS not in query.metrics and all(t.metric != GROSS for t in query.thresholds):
        return query
    swap = {GROSS: NET}
    order, _, change = (query.order_by or "").partition("__")
    return query.model_copy(update={
        "metrics": list(dict.fromkeys(swap.get(m, m) for m in query.metrics)),
        "thresholds": [t.model_copy(update={"metric": swap.get(t.metric, t.metric)})
                       for t in query.thresholds],
        "order_by": query.order_by and swap.get(order, order) + (f"__{change}" if change else ""),
    })  # fmt: skip


def _parse(
    text: str,
    *,
    directory: EnterpriseDirectory,
    vocab: Vocabulary,
    as_of: date,
    state: Any,
    catalogue: QueryCatalogue | None = None,
) -> Parsed:
    catalogue = catalogue or load_query_catalogue()
    if NOT_OURS.search(text) or (
        SHOW.search(text) and SHARES.search(text) and not ASKED.search(text)
    ):
        return Parsed()  # 看看恒泰精密前五大客户占比: the chart composer shows the split
    reading = read(text, directory, vocab, as_of)
    if (
        (reading.products or PRODUCT_AS_METRIC.search(text))
        and not reading.enterprises
        and PRODUCT_TERMS.search(text)
    ):
        return Parsed()  # 提前回款有哪些费用: the product's terms, not its records
    product_figure = _product_metric(text, reading)
    if product_figure and reading.time.period is None and EVER.search(text):
        # 华东汽车做过反向保理吗: ever, not in the last 12 months
        reading.time = replace(reading.time, period=Period(date.min, as_of, ALL_RECORDS))
    if reading.time.others:  # 上半年和下半年: one answer for one period would misread it
        return _which_period(text, reading.time, directory, vocab, as_of, state, catalogue)
    ids = {m.id for m in reading.enterprises}
    if len({(m.start, m.end) for m in reading.enterprises}) < len(reading.enterprises):
        return Parsed()  # one name, several companies: the company resolver asks which
    named = reading.enterprises[0] if reading.enterprises else None
    unknown = _unknown_company(text, reading, vocab, as_of)
    if unknown is not None:  # 南粤电子的供应商 / 那川西建材呢, a company the caller cannot see
        matches = directory.search(unknown, limit=2)
        if not matches:
            return Parsed(unknown=unknown)
        if not _clear(matches):
            return Parsed()  # 那华信呢: the company resolver asks which one
        named = matches[0]  # 那远航呢: a short or misspelt name of one company
        reading.enterprises = [named]
    if named is None and not reading.portfolio and not reading.pronoun:
        named = _misspelt(text, reading, directory, as_of)
        if named is not None:
            reading.enterprises = [named]
    partner, buyers = None, False
    untimed = _blank(text, reading.time.spans)  # 华东汽车今年的供应商: the period sits between
    relation = RELATION.match(untimed[named.end :]) if named is not None else None
    if relation and named is not None and (reading.portfolio or reading.total):
        # 华东汽车的供应商里谁开票最多: a ranking of the companies trading with 华东汽车.
        buyers = relation.group("rel") in ("客户", "下游客户", "买方", "购方")
        if not buyers:
            partner, named, reading.enterprises = named, None, []
    enterprise = _entity(named) if named else None
    if enterprise is None and reading.pronoun and getattr(state, "enterprise_id", None):
        enterprise = {"id": state.enterprise_id, "name": state.enterprise_name or ""}
    if enterprise is None and reading.pronoun:
        return Parsed()  # 他们 with no company in focus: the resolver asks which one
    if (
        enterprise is None
        and not getattr(state, "query", None)
        and getattr(state, "enterprise_id", None)
        and FOLLOW_UP.search(text.strip())
        and not (reading.portfolio or reading.roles or reading.industries or reading.regions)
    ):  # 只看逾期超过90天的, after another composer's answer about one company
        enterprise = {"id": state.enterprise_id, "name": state.enterprise_name or ""}
    if reading.pick is not None and (
        reading.metrics or reading.invoice_list or "发票" in text or PICK_OTHER.search(text)
    ):
        return _picked(reading, enterprise, state)
    last = getattr(state, "query", None)
    if last and _is_follow_up(text, reading):
        return _follow_up(Query.model_validate(last), reading, enterprise, catalogue, as_of)
    whole_book = False
    if enterprise is None and partner is None and _unscoped(text, reading, product_figure):
        focus = getattr(state, "enterprise_id", None)
        if focus:  # 上个月新增了多少张发票, right after a question about 恒泰精密: about it
            enterprise = {"id": focus, "name": getattr(state, "enterprise_name", None) or ""}
        else:
            whole_book = reading.total = True  # no company anywhere: the caller's whole book
    metrics = reading.metrics
    if reading.overdue_days and not metrics:
        # 有多少张逾期超过60天的发票: the number of invoices (and their amount), not only the amount
        counted = HOW_MANY_INVOICES.search(text)
        metrics = ["overdue_count", "overdue_amount"] if counted else ["overdue_amount"]
    if not metrics and reading.invoice_list:
        metrics = ["invoice_amount"]
    if not metrics and partner is not None:  # 华东汽车最大的供应商: by what they sell it
        metrics = ["order_amount" if reading.roles == ["distributor"] else "invoice_amount"]
    if not metrics and buyers:
        metrics = ["invoice_amount"]
    if not metrics and reading.products:  # 保理: financing of that product
        if reading.count or enterprise is not None or not (reading.portfolio or whole_book):
            metrics = ["financing_amount"]
        else:
            reading.ambiguous = ["financing_balance", "financing_amount"]
    if (
        not metrics
        and reading.ambiguous
        and enterprise is None
        and (reading.portfolio or whole_book)
    ):
        options = [
            _build(reading, [m], enterprise["id"] if enterprise else None, catalogue)
            for m in reading.ambiguous
        ]
        labels = "；".join(
            f"{i}. {catalogue.metrics[m].label}" for i, m in enumerate(reading.ambiguous, start=1)
        )
        return Parsed(
            question=f"您想看的是哪一项：{labels}？",
            options=[o.model_dump(mode="json") for o in options],
            enterprise=enterprise,
        )
    counting = reading.count and enterprise is None
    if not metrics:
        topic = _topic(text) if enterprise is not None and _calendar(reading) else None
        if counting:
            metrics = [CLIENT_COUNT]
        elif enterprise is not None and _calendar(reading) and TOP_BUYERS.search(text):
            # 今年以来前五大客户 (占比): its largest buyers in that period, by invoiced amount.
            metrics, buyers = ["invoice_amount"], True
        elif reading.client_list and enterprise is None:
            metrics = ["invoice_amount", "open_amount"]
        elif topic:
            metrics = topic
        elif _period_follow_up(reading, state, enterprise):
            metrics = INTENT_METRICS[state.last_intent]
            enterprise = enterprise or {
                "id": state.enterprise_id,
                "name": state.enterprise_name or "",
            }
        elif enterprise is not None and (_calendar(reading) or _between(text, reading)):
            metrics = list(words().general)
        elif enterprise is None and reading.roles and (reading.limit or reading.superlative):
            metrics = ["invoice_amount"]  # 前10大供应商: ranked by their sales
        else:
            return Parsed()
    if enterprise is None and not (
        reading.portfolio or reading.roles or reading.thresholds or reading.group_by
        or reading.overdue_days
        or reading.industries or reading.regions or reading.client_list or whole_book
    ):  # fmt: skip
        return Parsed()  # "现金流怎么样" with no company: the resolver asks which
    if (named is not None and named.role == "supplier") or reading.roles == ["supplier"]:
        metrics = [RECEIVED.get(m, m) for m in metrics]  # a supplier's orders are received
    between = _between(text, reading) and named is not None
    # 华东汽车和远航汽配的现金流 / 恒泰精密和远航汽配谁的回款多: both companies, side by side
    # (a templated answer would show the first one only).
    side_by_side = len(ids) > 1 and named is not None and _joined(text, reading.enterprises)
    if (
        enterprise is not None
        and not buyers
        and not between
        and not side_by_side
        and not _needs_query_layer(reading, metrics)
        and not _trading(text, reading.enterprises)  # 华东汽车给远航汽配付了多少钱
    ):
        return Parsed()
    if (
        named is not None
        and enterprise is not None
        and reading.roles
        and (named.role not in reading.roles or TO_KIND.search(text))
    ):
        # 华东汽车付给供应商的钱; 耀科电机（itself a supplier）付了多少钱给供应商: the other side
        reading.counter_roles, reading.roles = reading.roles, []
    query = _build(reading, metrics, enterprise["id"] if enterprise else None, catalogue)
    notes: list[str] = []
    if (
        named is not None
        and enterprise is not None
        and named.role == "core"
        and len(ids) == 1
        and partner is None
        and not buyers
        and _financing_only(query.metrics, catalogue)
    ):
        # 华东汽车的融资余额: chain financing is applied for by a core enterprise's suppliers and
        # dealers, with the core named on it; the core's own figure would be a true, useless 0.
        query = query.with_filter("enterprise", []).with_filter("counterparty", [named.id])
        kinds = query.filter_values("counterparty_role")
        if kinds:  # 华东汽车下面的供应商: the applicants' kind, not the core's
            query = query.with_filter("counterparty_role", []).with_filter("role", kinds)
        if reading.portfolio and not query.group_by:  # 哪家供应商融资余额最大
            query = query.model_copy(update={
                "group_by": ["enterprise"],
                "limit": reading.limit or (
                    _top_limit(reading) if reading.superlative else DEFAULT_SCREEN_LIMIT
                ),
            })  # fmt: skip
        notes.append(_core_note(named.name))
    if partner is not None or buyers:
        if not all("counterparty" in catalogue.metrics[m].allowed(catalogue) for m in metrics):
            return Parsed()
        if partner is not None:
            query = query.with_filter("counterparty", [partner.id])
        else:
            limit = reading.limit or (
                _top_limit(reading) if reading.superlative else DEFAULT_SCREEN_LIMIT
            )
            query = query.model_copy(update={
                "group_by": ["counterparty"], "order_by": metrics[0], "limit": limit,
            })  # fmt: skip
    if counting:
        query = _counted(query)
    without = bool(WITHOUT.search(text)) and enterprise is None and "enterprise" in query.group_by
    if without:
        query = query.model_copy(update={"limit": None, "thresholds": []})
    if len(ids) > 1 and enterprise and named and not between and _joined(text, reading.enterprises):
        # 华东汽车和远航汽配三季度的开票金额: each company's own figures, side by side.
        listed = list(dict.fromkeys(m.id for m in reading.enterprises))
        query = query.with_filter("enterprise", listed).model_copy(update={
            "group_by": ["enterprise", *[g for g in query.group_by if g != "enterprise"]][:2],
            "limit": None,
        })  # fmt: skip
    elif len(ids) > 1 and enterprise and named:
        others = [m.id for m in reading.enterprises if m.id != named.id]
        if between:  # 远航汽配和华东汽车之间: both directions, each metric with its mirror
            query = _both_ways(query)
            one_way = [m for m in query.metrics if not any(m in p for p in MIRRORED)]
            if one_way:
                other = next(m for m in reading.enterprises if m.id != named.id)
                labels = "、".join(catalogue.metrics[m].label for m in one_way)
                notes.append(
                    f"{labels}只按{named.name}一方统计（交易对手为{other.name}的部分）；"
                    f"另一方向请以{other.name}为主体再问"
                )
        if all("counterparty" in catalogue.metrics[m].allowed(catalogue) for m in query.metrics):
            query = query.with_filter("counterparty", others[:1])
    return Parsed(
        query=query,
        enterprise=enterprise,
        period=reading.time.period,
        notes=notes,
        count=counting,
        without=without,
        whole_book=whole_book,
    )


def _between(text: str, reading: Reading) -> bool:
    """远航汽配和华东汽车之间 / 两家的往来: trade between two companies, in both directions."""
    return len({m.id for m in reading.enterprises}) == 2 and bool(BETWEEN.search(text))


def _both_ways(query: Query) -> Query:
    """The query with each metric beside its mirror (A 开给 B and B 开给 A, B 付给 A and A 付给
    B ...): one row of the first company's figures with the second as counterparty. A metric
    with no mirror (应收、融资) stays one way, and the answer says so."""
    metrics: list[str] = []
    for name in query.metrics:
        if name == "net_flow":
            name = "inflow"  # shown as both payments and their total, not a difference
        pair = next((p for p in MIRRORED if name in p or MIRROR_OF.get(name) in p), None)
        metrics += [m for m in (pair or (name,)) if m not in metrics]
    return query.model_copy(update={"metrics": metrics[:4], "order_by": None})


def _joined(text: str, companies: list[Match]) -> bool:
    """Companies named side by side (华东汽车和远航汽配), not one trading with the other
    (华东汽车卖给远航汽配 / 华东汽车对远航汽配的开票)."""
    ordered = sorted(companies, key=lambda m: m.start)
    between = [text[a.end : b.start].strip() for a, b in pairwise(ordered)]
    return all(CONJUNCTION.fullmatch(gap) for gap in between) and not TRADE.search(text)


def _core_note(name: str) -> str:
    return f"{name}是核心企业，供应链融资由其上下游企业申请；以上为以它为核心企业、由您名下客户申请的融资"


def _financing_only(metrics: list[str], catalogue: QueryCatalogue) -> bool:
    """Every metric counts chain financing (applied for by suppliers and dealers, a core named)."""
    return all(catalogue.metrics[m].table == FINANCING_TABLE for m in metrics)


def _trading(text: str, companies: list[Match]) -> bool:
    """Two companies with a trade word between them (华东汽车给远航汽配付了, 远航汽配开给华东汽车):
    one's figures with the other as counterparty, which only the query layer answers."""
    ordered = sorted(companies, key=lambda m: m.start)
    if len({m.id for m in ordered}) != 2:
        return False
    gap = text[ordered[0].end : ordered[-1].start]
    return bool(TRADE.search(gap)) and not CONJUNCTION.search(gap)


def _unscoped(text: str, reading: Reading, product: bool = False) -> bool:
    """A figure asked with no company, no kind of company and no screen (上个月新增了多少张发票):
    the company in focus, else the whole book, answers it. A product's financing records
    (做了多少笔反向保理) need no calendar period: no other composer answers them."""
    period = reading.time.period
    return bool(
        (reading.metrics or product)
        and not reading.enterprises
        and not (reading.portfolio or reading.roles or reading.industries or reading.regions)
        and not (reading.thresholds or reading.group_by or reading.client_list)
        and not reading.pronoun
        and (
            product
            or (period is not None and not period.relative)
            or any(m in MATURING_METRICS for m in reading.metrics)  # no other composer has them
        )
        and not GIVEN.search(text)
    )


def _product_metric(text: str, reading: Reading) -> bool:
    """A product named with no metric word: 多少笔 counts its financings, 做了 / 融资了 is their
    amount (a list of the clients that did it when the question asks which), 有多少 stays
    ambiguous (balance or amount). True when the message asks for such a figure."""
    if not reading.products or reading.metrics:
        return False
    if PRODUCT_COUNT.search(text):
        reading.metrics, reading.ambiguous = ["financing_count"], None
    elif PRODUCT_DONE.search(text):
        reading.metrics, reading.ambiguous = ["financing_amount"], None
        if reading.portfolio and PLURAL.search(text) and not reading.superlative:
            reading.client_list = True  # 哪些客户做了订单融资: every one of them
    elif PRODUCT_HOW_MUCH.search(text):
        reading.ambiguous = ["financing_balance", "financing_amount"]
    else:
        return False
    return True


def _counted(query: Query) -> Query:
    """A count question lists every company it counts (the total is the count)."""
    update: dict[str, Any] = {"limit": CLIENT_LIST_LIMIT}
    if query.metrics == [CLIENT_COUNT]:
        update |= {"period": None, "group_by": ["enterprise"], "order_by": None,
                   "descending": False}  # fmt: skip
    return query.model_copy(update=update)


_NAME_BEFORE_RELATION = re.compile(
    r"([^\s的，,。？?！!：:；;、]{2,16})的?(?:上游|下游)?(?:供应商|经销商|客户|买方|购方)"
)
_ASKING = re.compile(r"多少|几[个笔张家天次]|怎么|什么|如何|吗|是否|有没有")
_SWITCH_TO = re.compile(r"^(?:那|那么|换成|换|再看看|再看|看看)(.{2,20}?)(?:呢|的呢)?[？?。]*$")


def _known_words(vocab: Vocabulary) -> list[str]:
    w = words()
    table = [word for word, _ in (*w.metrics, *w.roles, *w.group_by, *w.topics)]
    table += [*w.ambiguous, *vocab.industries, *(surface for surface, _ in vocab.regions)]
    return sorted(set(table), key=len, reverse=True)


def _unknown_company(text: str, reading: Reading, vocab: Vocabulary, as_of: date) -> str | None:
    """A company name the message names that the caller's directory does not hold.

    ``南粤电子的供应商…`` (another manager's client) must not become a screen of the whole
    book, nor ``那川西建材呢`` a repeat of the last answer: both are answered like a company
    that does not exist.
    """
    known = [(m.start, m.end) for m in reading.enterprises]
    candidates = []
    # Known names are blanked first: 上个季度华东汽车从哪些供应商 holds no unknown name.
    for match in _NAME_BEFORE_RELATION.finditer(_blank(text, known)):
        if not any(s <= match.start(1) < e or s < match.end(1) <= e for s, e in known):
            candidates.append((match.group(1), MIN_UNKNOWN_NAME))
    switch = _SWITCH_TO.match(text.strip())
    if switch and not known and not _ASKING.search(switch.group(1)):  # 那今年新增了多少: no name
        candidates.append((switch.group(1), 2))  # 那华信呢: all it says is a name
    for candidate, shortest in candidates:
        rest = PORTFOLIO.sub(" ", strip_time(candidate, as_of))
        rest = NOT_A_NAME.sub(" ", rest)
        for word in _known_words(vocab):
            rest = rest.replace(word, " ")
        name = residual_name(rest, set())
        if name and len(name) >= shortest and not name.isascii():
            return name
    return None


def _direction(text: str) -> str | None:
    """同比下降的 / 比去年减少的 -> "down"; 同比增长的 -> "up"; None when no direction is asked."""
    match = DIRECTION.search(text)
    if match is None:
        return None
    return "down" if any(c in match.group(1) for c in "降减滑少跌") else "up"


def _pick(text: str) -> tuple[str, int | None] | None:
    """最近一笔 -> ("latest", 1); 最早的三张 -> ("earliest", 3); 最近几笔 -> ("latest", None)."""
    match = PICK.search(text)
    if match is None:
        return None
    word, number = match.group("word") or "最近", match.group("n")
    count = 1 if number is None else _count(number)
    if word == "第" and count != 1:
        return None  # 第三笔: not the first or the last
    return ("earliest" if word in ("最早", "第") else "latest", count)


def _picked(reading: Reading, enterprise: dict[str, str] | None, state: Any) -> Parsed:
    """最近一笔回款是什么时候 / 最近三张发票: the newest (or oldest) records of one company, with
    their dates, amounts and counterparties (never a total over a default window)."""
    assert reading.pick is not None
    if enterprise is None and getattr(state, "enterprise_id", None):
        enterprise = {"id": state.enterprise_id, "name": state.enterprise_name or ""}
    if enterprise is None:
        return Parsed()  # 最近一笔回款 with no company anywhere: the resolver asks which
    if PICK_OTHER.search(reading.time_text):
        return Parsed(question=PICK_UNSUPPORTED)  # 最近一次采购: orders are not listed one by one
    metrics = [m for m in reading.metrics if m in PICKED_METRICS]
    if not metrics and (reading.invoice_list or "发票" in reading.time_text):
        metrics = ["invoice_amount"]
    if not metrics:
        return Parsed(question=PICK_UNSUPPORTED)
    kind, count = reading.pick
    filters: list[dict[str, Any]] = [{"dimension": "enterprise", "values": [enterprise["id"]]}]
    others = [m.id for m in reading.enterprises if m.id != enterprise["id"]]
    if others:  # 华东汽车最近一笔付给恒泰精密的款: only what passed between the two
        filters.append({"dimension": "counterparty", "values": others[:1]})
    options = [
        Query(
            metrics=[m],
            filters=filters,  # type: ignore[arg-type]
            group_by=[PICKED_METRICS[m]],
            period=_period_spec(reading.time.period),
            limit=count or DEFAULT_LIST_LIMIT,
            pick=kind,  # type: ignore[arg-type]
        )
        for m in metrics[:2]
    ]
    if len(options) > 1:  # 最近一笔流水: money in or money out
        labels = "；".join(
            f"{i}. {m}" for i, m in enumerate(("资金流入（回款）", "资金流出（付款）"), 1)
        )
        return Parsed(
            question=f"您想看的是哪一项：{labels}？",
            options=[o.model_dump(mode="json") for o in options],
            enterprise=enterprise,
        )
    return Parsed(query=options[0], enterprise=enterprise, period=reading.time.period)


def _growth(text: str) -> tuple[str, bool] | None:
    """增长最多 -> ("change", True); 降幅最大 -> ("change_rate", False); None when not asked."""
    match = GROWTH.search(text)
    if match is None:
        return None
    word = match.group(1) or match.group(2)
    rate = "幅" in word or "最快" in match.group(0)
    return ("change_rate" if rate else "change", not any(c in word for c in "降减滑跌"))


def _calendar(reading: Reading) -> bool:
    """The message names a calendar period or a comparison (the templated composers read only
    "the last N months", so such a question is the query layer's)."""
    period = reading.time.period
    return bool((period is not None and not period.relative) or reading.time.compare)


def _topic(text: str) -> list[str] | None:
    """The metrics a question without a metric word is about (发票, 融资 ...), or None."""
    for word, metrics in words().topics:
        if word in text:
            return list(metrics)
    return None


def _misspelt(
    text: str, reading: Reading, directory: EnterpriseDirectory, as_of: date
) -> Match | None:
    """A company named with a typo (华东汽年): what is left of the message, looked up fuzzily,
    when one company clearly wins."""
    if not reading.metrics:
        return None
    rest = strip_time(text, as_of)
    for word, _ in words().metrics:
        rest = rest.replace(word, " ")
    residual = residual_name(rest, set())
    if not residual:
        return None
    matches = directory.search(residual, limit=2)
    return matches[0] if _clear(matches) else None


def _clear(matches: list[Match]) -> bool:
    """One company found, or the first far ahead of the second."""
    return len(matches) == 1 or (
        len(matches) > 1
        and (
            matches[0].score >= 100 > matches[1].score or matches[0].score - matches[1].score >= 15
        )
    )


def _needs_query_layer(reading: Reading, metrics: list[str]) -> bool:
    """A question about one named company that the older composers cannot answer right."""
    period = reading.time.period
    return bool(
        (period is not None and not period.relative)
        or reading.time.compare
        or reading.limit
        or reading.thresholds
        or reading.invoice_list
        or reading.only_overdue
        or reading.overdue_days
        or [g for g in reading.group_by if g != "month"]
        # by month: the cash-flow composer shows months of all three flows, nothing else
        or ("month" in reading.group_by and set(metrics) != {"inflow", "outflow", "net_flow"})
        or any(m not in HANDLED for m in metrics)
        # 华东汽车做过反向保理吗: the older composers show every product's financing
        or bool(reading.products and any(m.startswith("financing") for m in metrics))
    )


def _period_follow_up(reading: Reading, state: Any, enterprise: dict[str, str] | None) -> bool:
    period = reading.time.period
    return bool(
        period is not None
        and not period.relative
        and getattr(state, "last_intent", None) in INTENT_METRICS
        and (enterprise or getattr(state, "enterprise_id", None))
    )


def _is_follow_up(text: str, reading: Reading) -> bool:
    if FOLLOW_UP.search(text.strip()):
        return True
    named = reading.time.period or reading.time.compare or reading.group_by or reading.only_overdue
    return bool(named) and not reading.metrics and len(text) <= 14


def _follow_up(
    last: Query,
    reading: Reading,
    enterprise: dict[str, str] | None,
    catalogue: QueryCatalogue,
    as_of: date,
) -> Parsed:
    """The last query with only what the new message names changed."""
    update: dict[str, Any] = {}
    notes: list[str] = []
    query = last
    switched = [m for m in reading.metrics if not (reading.only_overdue and m == "overdue_amount")]
    if not switched and NEW_WORDS.search(reading.time_text):
        # 融资余额 -> 那今年新增了多少: what was added in the period, not a balance
        flows = [FLOW_OF.get(m, m) for m in last.metrics]
        switched = flows if flows != last.metrics else []
    if switched:
        # Only the metric changes: the companies the last screen kept (超过500万) stay the
        # ones shown, so its thresholds stay on their own metric, shown beside the new one.
        kept = [] if reading.thresholds else [
            t.metric for t in last.thresholds if t.metric not in switched
        ]  # fmt: skip
        update["metrics"] = list(dict.fromkeys([*switched, *kept]))[:4]
        update["order_by"] = None if last.order_by is None else switched[0]
    if reading.time.period is not None:
        update["period"] = _period_spec(reading.time.period)
    if reading.time.compare:
        update["compare"] = reading.time.compare
    if reading.group_by:
        update["group_by"] = list(dict.fromkeys([*reading.group_by, *[
            g for g in last.group_by if g == "enterprise" and not last.filter_values("enterprise")
        ]]))[:2]  # fmt: skip
        if all(g in ("month", "quarter", "year") for g in reading.group_by):
            update["order_by"] = None
            update["limit"] = None
            wider = _wider(update.get("period", last.period), reading.group_by[0], as_of)
            if wider is not None and reading.time.period is None:
                # 按季度看看 after a one-month question: a table of one row says nothing.
                update["period"] = _period_spec(wider)
                notes.append(f"上一问的统计期不足两个拆分单位，已放宽为{wider.text}")
    if reading.pick and last.pick:  # 最近三笔呢 / 最早的呢, after 最近一笔回款
        update["pick"], count = reading.pick
        update["limit"] = count or DEFAULT_LIST_LIMIT
    if reading.limit:
        update["limit"] = reading.limit
        if last.order_by is None and "order_by" not in update:
            update["order_by"] = update.get("metrics", last.metrics)[0]  # 前三: a ranking
    query = query.model_copy(update=update)
    financing = _financing_only(query.metrics, catalogue)
    under_core = (
        financing
        and len(last.filter_values("counterparty")) == 1
        and not last.filter_values("enterprise")
    )
    to_core = financing and bool(reading.enterprises) and reading.enterprises[0].role == "core"
    if reading.enterprises and enterprise and (under_core or to_core):
        # 华东汽车的融资余额 -> 那远航汽配呢: a supplier's own financing; 恒泰精密的融资余额 ->
        # 那华东汽车呢: the financing under that core, as the first question would read it
        query = query.with_filter("enterprise", []).with_filter("counterparty", [])
        if to_core:
            query = query.with_filter("counterparty", [enterprise["id"]])
            notes.append(_core_note(reading.enterprises[0].name))
        else:
            query = query.with_filter("enterprise", [enterprise["id"]])
    elif reading.enterprises and enterprise:
        query = query.with_filter("enterprise", [enterprise["id"]])
        if "enterprise" in query.group_by:
            query = query.model_copy(
                update={"group_by": [g for g in query.group_by if g != "enterprise"], "limit": None}
            )
    if reading.roles:
        query = query.with_filter("role", reading.roles)
    for dim, values in (("industry", reading.industries), ("region", reading.regions)):
        if values:  # 只看江苏的
            query = query.with_filter(dim, values)
    if reading.products and all(
        "product" in catalogue.metrics[m].allowed(catalogue) for m in query.metrics
    ):
        query = query.with_filter("product", reading.products)
    kinds = reading.roles or reading.industries or reading.regions
    if kinds and query.filter_values("enterprise") and not reading.enterprises:
        # 那经销商呢 / 只看江苏的 after one company's figures: the same question over those
        # companies.
        query = query.with_filter("enterprise", []).model_copy(update={
            "group_by": ["enterprise"], "order_by": query.metrics[0],
            "limit": reading.limit or DEFAULT_SCREEN_LIMIT,
        })  # fmt: skip
    if reading.thresholds:
        metrics = query.metrics
        query = query.model_copy(update={"thresholds": [
            Threshold(metric=_threshold_metric(metrics, v, catalogue), op=op, value=v)
            for op, v in reading.thresholds
        ]})  # fmt: skip
    if reading.overdue_days:
        if not all("overdue" in catalogue.metrics[m].allowed(catalogue) for m in query.metrics):
            query = query.model_copy(update={"metrics": ["overdue_amount"], "order_by": (
                "overdue_amount" if query.order_by else None)})  # fmt: skip
        query = query.with_filter("overdue", [str(reading.overdue_days)])
    if reading.only_overdue:
        # 只看逾期的 after a screen (超过500万): the same companies, their overdue part; else
        # only the overdue invoices count.
        metrics = list(dict.fromkeys(
            "overdue_amount" if m == "open_amount" else m for m in query.metrics
        ))  # fmt: skip
        screen = bool(query.thresholds) and metrics != query.metrics
        if not screen and all(
            "overdue" in catalogue.metrics[m].allowed(catalogue) for m in query.metrics
        ):
            query = query.with_filter("overdue", ["true"])
        else:
            order = query.order_by and (
                "overdue_amount" if query.order_by == "open_amount" else query.order_by
            )
            query = query.model_copy(update={"metrics": metrics, "order_by": order})
    ids = query.filter_values("enterprise")
    focus = enterprise if reading.enterprises else None
    if focus is None and ids:
        focus = {"id": ids[0], "name": ""}
    return Parsed(query=query, enterprise=focus, period=reading.time.period, notes=notes)


UNIT_MONTHS = {"month": 1, "quarter": 3, "year": 12}


def _wider(spec: PeriodSpec | None, unit: str, as_of: date) -> Period | None:
    """A period of several ``unit``s ending at the data's date, when ``spec`` holds fewer
    than two (None when it holds enough, or is the default 12 months)."""
    if spec is None:
        return None
    months = (spec.end.year - spec.start.year) * 12 + spec.end.month - spec.start.month + 1
    if months >= 2 * UNIT_MONTHS[unit]:
        return None
    if unit == "month":
        return last_months(12, as_of)
    if unit == "quarter":
        index = as_of.year * 12 + (as_of.month - 1) // 3 * 3 - 9  # 3 quarters before this one
        return Period(date(index // 12, index % 12 + 1, 1), as_of, "近4个季度")
    return Period(date(as_of.year - 2, 1, 1), as_of, f"{as_of.year - 2}年以来")


def pick_option(
    text: str, options: list[dict[str, Any]], catalogue: QueryCatalogue
) -> Query | None:
    """The option a reply to "您想看的是哪一项" picks: by number or by the metric's name."""
    from finassist.assistant.slots import pick_candidate

    labels = [catalogue.metrics[o["metrics"][0]].label for o in options]
    index = pick_candidate(text, labels)
    return Query.model_validate(options[index]) if index is not None else None


__all__ = ["PRONOUNS", "Parsed", "Vocabulary", "parse", "parse_amount", "pick_option", "words"]
