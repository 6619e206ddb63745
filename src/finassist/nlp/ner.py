"""Financial named entities with character offsets: gazetteers plus rules.

Types: ``company``, ``stock`` (name and code), ``index``, ``fund``, ``fund_company``, ``industry``
(industries, sectors, concept boards), ``amount`` (with its unit and value in yuan), ``percent``,
``date`` (dates and periods such as 2023年第三季度), ``indicator`` (不良率, ROE, 净息差 ...),
``person`` (with a role), and ``region``, ``macro`` and ``commodity`` for news.

>>> [(e.text, e.type) for e in EntityRecognizer.default().recognize("贵州茅台2023年第三季度营收1.2亿元")]
[('贵州茅台', 'stock'), ('2023年第三季度', 'date'), ('营收', 'indicator'), ('1.2亿元', 'amount')]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from finassist.errors import InvalidInput
from finassist.nlp.gazetteer import Gazetteer, Match, load_terms

TYPE_LABELS = {
    "company": "公司",
    "stock": "股票",
    "index": "指数",
    "fund": "基金",
    "fund_company": "基金公司",
    "industry": "行业板块",
    "amount": "金额",
    "percent": "百分比",
    "date": "日期期间",
    "indicator": "财务指标",
    "person": "人物",
    "market": "市场",
    "region": "地区",
    "macro": "宏观指标",
    "commodity": "商品",
}
# Gazetteer kinds -> entity types.
_KIND_TYPE = {
    "stock": "stock",
    "index": "index",
    "fund": "fund",
    "fund_company": "fund_company",
    "company": "company",
    "industry": "industry",
    "sector": "industry",
    "concept": "industry",
    "market": "market",
    "indicator": "indicator",
    "macro": "macro",
    "commodity": "commodity",
    "region": "region",
}
_MULTIPLIERS = {
    "万亿": Decimal("1e12"),
    "千亿": Decimal("1e11"),
    "百亿": Decimal("1e10"),
    "亿": Decimal("1e8"),
    "千万": Decimal("1e7"),
    "百万": Decimal("1e6"),
    "万": Decimal("1e4"),
    "千": Decimal("1e3"),
}
_CURRENCIES = "元|美元|港元|港币|欧元|日元|英镑|人民币"
_AMOUNT = re.compile(
    rf"(?:人民币)?(?P<num>\d+(?:[,，]\d{{3}})*(?:\.\d+)?)\s*"
    rf"(?:(?P<mult>万亿|千亿|百亿|亿|千万|百万|万|千)(?P<cur1>{_CURRENCIES})?|(?P<cur2>{_CURRENCIES}))"
)
_PERCENT = re.compile(
    r"[+-]?\d+(?:\.\d+)?\s*(?:%|％|个百分点|个基点|bp|BP)|百分之[零一二三四五六七八九十百点\d.]+"
)
_CN_NUM = "一二三四1234"
_DATE = re.compile(
    rf"(?:\d{{4}}年(?:第[{_CN_NUM}]季度|[{_CN_NUM}]季度|[Qq][1-4]|上半年|下半年|前三季度|"
    r"\d{1,2}[－\-~至]\d{1,2}月|\d{1,2}月(?:\d{1,2}[日号])?(?:[－\-至]\d{1,2}[日号])?|年初|年末|年底|全年|度)?"
    r"|\d{4}[-/]\d{1,2}[-/]\d{1,2}|\d{4}[Qq][1-4]|\d{1,2}月\d{1,2}[日号](?:晚间|早间|盘后)?"
    r"|(?:近|最近|过去)\d+个?(?:月|季度|年|天|交易日)"
    rf"|(?:今年|去年|前年|明年|本年|上年)(?:第[{_CN_NUM}]季度|上半年|下半年|前三季度|同期|全年)?"
    rf"|第[{_CN_NUM}]季度|上半年|下半年|前三季度|本月|上月|上个月|本周|上周|今日|昨日|今天|昨天|明天)"
)
_COMPANY = re.compile(
    r"[\u4e00-\u9fffA-Za-z0-9（）()]{2,20}?(?:股份有限公司|有限责任公司|有限公司|集团公司|集团|控股)"
)
_COMPANY_STOP = re.compile(
    r"^.*(?:的|和|与|及|在|对|向|由|是|为|将|等|公司股东|子公司|旗下|称|据|：|:)"
)
# A fund the lists do not know, named the usual way: fund house + name + share class
# (中欧骏盈B, 易方达蓝筹精选混合A). The house is matched by the gazetteer; this is what follows it.
_FUND_TAIL = re.compile(
    r"[\u4e00-\u9fff]{2,10}?(?:混合|债券|股票|指数|联接|发起式|ETF|LOF|FOF|QDII)*"
    r"(?:[A-E]类?(?![A-Za-z0-9])|ETF|LOF)"
)
_SHARE_CLASS = re.compile(r"[A-E]类?(?![A-Za-z0-9])")
# Context that makes a listed name the company acting (公告, 中标) rather than its shares (涨停):
# CFSC-NER's Corporate vs Stock. Looked at within a few characters after the name.
_CORPORATE_AFTER = re.compile(
    r"^\s*(?:[（(]\d{6}[^)）]*[)）])?\s*(?:[：:]|公告|发布|宣布|表示|称|披露|回复|签署|签订|中标|拟|"
    r"收到|获得|与|董事|股东|旗下|子公司|实控人|控股股东|高管|总裁|董事长|年报|半年报|季报|业绩|"
    r"营收|净利润|计划|将|已|正在|成立|收购|投资|募资|回购|召开|发行|入股|推出|研发|生产|完成)"
)
_STOCK_AFTER = re.compile(
    r"^\s*(?:\d+天\d+板|\d+连?板|涨|跌|大涨|大跌|涨停|跌停|封板|高开|低开|收涨|收跌|股价|市值|"
    r"放量|缩量|领涨|领跌|走强|走弱|拉升|翻红|翻绿|等个股|等股|成交|换手)"
)
_CODE_AFTER = re.compile(r"^\s*[（(]\s*(\d{6})(?:\.(?:SH|SZ|BJ))?\s*[)）]")
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤易"
)
_NAME = rf"[{_SURNAMES}][\u4e00-\u9fff]{{1,2}}"
# A third character that is more likely the next word than part of the name (张三表示).
_NAME_STOP = set("表说称认指在和与于等辞因的了将也已均出对向被为是就称回透坦强")


@dataclass(frozen=True)
class Entity:
    """One entity: ``text`` = the input's ``[start:end]``; ``type`` from :data:`TYPE_LABELS`;
    ``canonical`` the list name it resolves to; ``attrs`` such as code, role, value, unit."""

    text: str
    type: str
    start: int
    end: int
    canonical: str = ""
    attrs: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict (the CLI's output)."""
        return {
            "text": self.text,
            "type": self.type,
            "label": TYPE_LABELS.get(self.type, self.type),
            "start": self.start,
            "end": self.end,
            "canonical": self.canonical or self.text,
            **({"attrs": dict(self.attrs)} if self.attrs else {}),
        }


class EntityRecognizer:
    """Gazetteer matches plus regular rules. Where matches overlap the longest wins (中欧骏盈B
    over 中欧, 宇顺电子 over 电子); on equal length a rule match wins. A listed name is typed
    ``company`` where the words after it say the company acts (宇顺电子公告), else ``stock``."""

    def __init__(self, gazetteer: Gazetteer, roles: list[str]) -> None:
        self.gazetteer = gazetteer
        role_alt = "|".join(sorted(map(re.escape, roles), key=len, reverse=True))
        self._role_name = re.compile(rf"(?P<role>{role_alt})(?P<name>{_NAME})")
        self._name_role = re.compile(
            rf"(?P<name>{_NAME})(?:先生|女士)?(?:担任|出任|任)?(?P<role>{role_alt})"
        )

    @classmethod
    def default(cls) -> EntityRecognizer:
        """The packaged gazetteer and role list (built once per process)."""
        return _default_recognizer()

    def recognize(self, text: str) -> list[Entity]:
        """All entities in ``text``, sorted by position, never overlapping."""
        if not text.strip():
            raise InvalidInput("文本为空：请提供要识别实体的文本。")
        candidates = list(self._rules(text))
        rule_count = len(candidates)
        for m in self.gazetteer.find(text):
            candidates.extend(self._list_entities(text, m))
        # A code in brackets after a name belongs to that name: not a second entity.
        owned = [
            (e.end, e.end + int(e.attrs["_span_after"]))
            for e in candidates
            if "_span_after" in e.attrs
        ]
        candidates = [
            e for e in candidates if not any(s <= e.start and e.end <= t for s, t in owned)
        ]
        # Longest first; on equal length rules (listed first) before list names, then leftmost.
        order = sorted(
            range(len(candidates)),
            key=lambda i: (-(candidates[i].end - candidates[i].start), i >= rule_count, i),
        )
        taken = [False] * len(text)
        out: list[Entity] = []
        for i in order:
            e = candidates[i]
            if any(taken[e.start : e.end]):
                continue
            out.append(e)
            for k in range(e.start, e.end):
                taken[k] = True
        out = [_without_private(e) for e in out]
        return sorted(out, key=lambda e: (e.start, -e.end))

    def _list_entities(self, text: str, m: Match) -> list[Entity]:
        """The entity a gazetteer match stands for, typed by its context; a fund house with
        a fund name after it also proposes that longer fund."""
        attrs = {"code": m.code} if m.code else {}
        etype = _KIND_TYPE.get(m.kind, m.kind)
        out = []
        if etype == "fund_company":
            tail = _FUND_TAIL.match(text, m.end)
            if tail:
                out.append(Entity(text[m.start : tail.end()], "fund", m.start, tail.end()))
        if etype in ("stock", "company") and m.code:
            after = text[m.end : m.end + 16]
            code = _CODE_AFTER.match(after)
            if code:
                attrs["code"] = code.group(1)
                attrs["_span_after"] = str(code.end())
            if _STOCK_AFTER.match(after):
                etype = "stock"
            elif _CORPORATE_AFTER.match(after) or text[max(0, m.start - 2) : m.start] == "公司":
                etype = "company"
        end = m.end
        if etype == "fund":
            share = _SHARE_CLASS.match(text, end)
            end = share.end() if share else end
        out.append(Entity(text[m.start : end], etype, m.start, end, m.canonical, attrs))
        return out

    def _rules(self, text: str) -> list[Entity]:
        found: list[Entity] = []
        for m in _AMOUNT.finditer(text):
            found.append(_amount(m))
        for m in _PERCENT.finditer(text):
            found.append(Entity(m.group(0), "percent", m.start(), m.end()))
        for m in _DATE.finditer(text):
            if m.group(0):
                found.append(Entity(m.group(0), "date", m.start(), m.end()))
        for m in _COMPANY.finditer(text):
            start = m.start()
            cut = _COMPANY_STOP.match(m.group(0))
            if cut:
                start += cut.end()
            if m.end() - start >= 4:
                found.append(Entity(text[start : m.end()], "company", start, m.end()))
        for pattern in (self._role_name, self._name_role):
            for m in pattern.finditer(text):
                s, e = m.span("name")
                if e - s == 3 and text[e - 1] in _NAME_STOP:
                    e -= 1
                found.append(Entity(text[s:e], "person", s, e, attrs={"role": m.group("role")}))
        # Keep the longest of overlapping rule matches, earliest first.
        found.sort(key=lambda e: (e.start, -(e.end - e.start)))
        kept: list[Entity] = []
        for e in found:
            if kept and e.start < kept[-1].end:
                continue
            kept.append(e)
        return kept


def _without_private(e: Entity) -> Entity:
    if "_span_after" not in e.attrs:
        return e
    attrs = {k: v for k, v in e.attrs.items() if k != "_span_after"}
    return Entity(e.text, e.type, e.start, e.end, e.canonical, attrs)


def _amount(m: re.Match[str]) -> Entity:
    number = m.group("num").replace(",", "").replace("，", "")
    mult = m.group("mult")
    currency = m.group("cur1") or m.group("cur2") or ""
    attrs = {"unit": (mult or "") + currency}
    try:
        value = Decimal(number) * (_MULTIPLIERS[mult] if mult else 1)
        attrs["value"] = format(value.normalize(), "f")
    except InvalidOperation:  # pragma: no cover - the pattern only admits digits
        pass
    if currency:
        attrs["currency"] = "CNY" if currency in ("元", "人民币") else currency
    return Entity(m.group(0), "amount", m.start(), m.end(), attrs=attrs)


@lru_cache(maxsize=1)
def _default_recognizer() -> EntityRecognizer:
    return EntityRecognizer(Gazetteer.default(), [str(r) for r in load_terms().get("roles", ())])
