"""Personal information (PII) in Chinese text: find it, and mask it with typed placeholders.

Numbers are only taken for what they claim to be when their check digits agree: ID cards by the
GB 11643 check character (and a real birth date), bank cards by Luhn, unified social credit codes
by GB 32100 (:mod:`finassist.store.uscc`). Mobile and landline numbers, e-mails, invoice numbers
(the 20-digit 数电票 number, or 8/10/12 digits after 发票号码/发票代码), names with a title
(王经理, 李建国总经理) and street addresses (anchored on a province or city) are found by pattern.

>>> mask_pii("请王经理把款打到6222021234567890128，电话13812345678").text
'请[姓名]经理把款打到[银行卡号]，电话[手机号]'
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from finassist.store.uscc import is_valid_uscc

PLACEHOLDERS: dict[str, str] = {
    "email": "[邮箱]",
    "id_card": "[身份证号]",
    "uscc": "[信用代码]",
    "bank_card": "[银行卡号]",
    "invoice": "[发票号]",
    "mobile": "[手机号]",
    "landline": "[座机号]",
    "address": "[地址]",
    "name": "[姓名]",
}
"""Placeholder per PII type; also the order in which the types are looked for."""

KIND_TITLES: dict[str, str] = {
    "email": "邮箱",
    "id_card": "身份证号",
    "uscc": "统一社会信用代码",
    "bank_card": "银行卡号",
    "invoice": "发票号码",
    "mobile": "手机号",
    "landline": "座机号",
    "address": "地址",
    "name": "姓名",
}

# The most common Chinese surnames (single and compound). Characters that are far more often
# a preposition than a surname in service chat (向, 和, 从, 在) are left out on purpose.
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蔡蒋余"
    "杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙"
    "史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳"
    "翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝"
    "路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑"
    "景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲"
    "虞敖巩明佘池查麻苑迟邝于"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "令狐", "慕容", "尉迟", "公孙")
TITLES = (
    "总经理", "副总经理", "经理", "副总", "总监", "总", "董事长", "董事", "行长", "副行长",
    "主任", "科长", "处长", "部长", "会计", "出纳", "老师", "律师", "先生", "女士", "小姐",
    "老板", "助理", "专员", "工", "姐", "哥",
)  # fmt: skip
PROVINCES = (
    "北京", "天津", "上海", "重庆", "河北", "山西", "辽宁", "吉林", "黑龙江", "江苏", "浙江",
    "安徽", "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "海南", "四川", "贵州",
    "云南", "陕西", "甘肃", "青海", "台湾", "内蒙古", "广西", "西藏", "宁夏", "新疆", "香港",
    "澳门", "深圳", "广州", "苏州", "杭州", "南京", "武汉", "成都", "西安", "宁波", "青岛",
    "厦门", "无锡", "佛山", "东莞", "长沙", "郑州", "合肥", "济南", "福州", "昆明", "沈阳",
    "大连", "长春", "哈尔滨", "石家庄", "太原", "南昌", "南宁", "贵阳", "兰州", "温州", "常州",
    "绍兴", "嘉兴", "台州", "金华", "珠海", "惠州", "中山", "烟台", "泉州", "徐州", "南通",
)  # fmt: skip

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"


def id_card_check_digit(first17: str) -> str:
    """The 18th character of a resident ID number (GB 11643: sum of weights mod 11)."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError("expected 17 digits")
    return ID_CHECK[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def is_valid_id_card(code: str) -> bool:
    """18 characters, a real birth date at positions 7-14, and a matching check character."""
    code = code.upper()
    if len(code) != 18 or not code[:17].isdigit():
        return False
    try:
        born = date(int(code[6:10]), int(code[10:12]), int(code[12:14]))
    except ValueError:
        return False
    if not 1900 <= born.year <= 2100:
        return False
    return id_card_check_digit(code[:17]) == code[17]


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check used by bank card numbers."""
    if not digits.isdigit():
        return False
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def luhn_check_digit(body: str) -> str:
    """The digit that makes ``body + digit`` pass :func:`luhn_valid`."""
    for d in "0123456789":
        if luhn_valid(body + d):
            return d
    raise ValueError("unreachable")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class PiiSpan:
    """One piece of PII: its type, where it is in the text, and the text itself."""

    kind: str
    start: int
    end: int
    text: str


@dataclass
class MaskResult:
    """Masked text and how many of each PII type were replaced."""

    text: str
    counts: Counter[str] = field(default_factory=Counter)


_DIGIT = re.compile(r"\d")
_DIGIT_KINDS = frozenset({"id_card", "uscc", "bank_card", "invoice", "mobile", "landline"})
_NB = r"(?<![0-9A-Za-z])"  # no letter or digit before
_NA = r"(?![0-9A-Za-z])"  # ... or after


class PiiMasker:
    """Finds and masks PII; the patterns are compiled once per instance.

    ``kinds`` limits the types looked for (default: all of :data:`PLACEHOLDERS`).
    """

    def __init__(self, kinds: tuple[str, ...] | None = None) -> None:
        self.kinds = tuple(k for k in PLACEHOLDERS if kinds is None or k in kinds)
        unknown = set(kinds or ()) - set(PLACEHOLDERS)
        if unknown:
            raise ValueError(f"unknown PII kinds: {sorted(unknown)}")
        surnames = "|".join((*COMPOUND_SURNAMES, f"[{SURNAMES}]"))
        titles = "|".join(sorted(TITLES, key=len, reverse=True))
        places = "|".join(sorted(PROVINCES, key=len, reverse=True))
        self._patterns: dict[str, re.Pattern[str]] = {
            "email": re.compile(
                r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
            ),
            "id_card": re.compile(_NB + r"\d{17}[\dXx]" + _NA),
            "uscc": re.compile(_NB + r"[0-9A-Za-z]{18}" + _NA),
            "bank_card": re.compile(
                _NB + r"(?:\d{16,19}|\d{4}(?:[ -]\d{4}){3}(?:[ -]?\d{1,3})?)" + _NA
            ),
            "invoice": re.compile(
                _NB
                + r"\d{20}"
                + _NA
                + r"|发票(?:号码|代码|号)?[：:\s为是]{0,3}(\d{8}|\d{10}|\d{12})"
                + _NA
            ),
            "mobile": re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2}" + _NA),
            "landline": re.compile(
                r"(?<![0-9A-Za-z])(?:\(0\d{2,3}\)|0\d{2,3})[- ]?[2-9]\d{6,7}(?:-\d{1,5})?" + _NA
            ),
            "address": re.compile(
                rf"(?:{places})(?:省|市|自治区|特别行政区)?[\u4e00-\u9fa5\d]{{0,24}}?"
                r"(?:路|街|大道|巷|弄|道)\d+(?:-\d+)?号"
                r"(?:[\u4e00-\u9fa5\dA-Za-z-]{0,10}?(?:号楼|楼|室|层|栋|座|单元))*"
                r"|[\u4e00-\u9fa5]{2,4}(?:路|大道|街)\d+(?:-\d+)?号"
                r"(?:[\u4e00-\u9fa5\dA-Za-z-]{0,10}?(?:号楼|楼|室|层|栋|座|单元))*"
            ),
            "name": re.compile(rf"(?P<name>(?:{surnames})[\u4e00-\u9fa5]{{0,2}}?)(?:{titles})"),
        }

    def _valid(self, kind: str, match: re.Match[str]) -> tuple[int, int] | None:
        """The span to mask for a candidate match, or None when a check fails."""
        text = match.group(0)
        if kind == "id_card":
            return match.span() if is_valid_id_card(text) else None
        if kind == "uscc":
            upper = text.upper()
            return match.span() if not upper.isdigit() and is_valid_uscc(upper) else None
        if kind == "bank_card":
            digits = text.replace(" ", "").replace("-", "")
            ok = 16 <= len(digits) <= 19 and luhn_valid(digits)
            return match.span() if ok else None
        if kind == "invoice":
            return match.span(1) if match.group(1) else match.span()
        if kind == "name":
            return match.span("name")
        return match.span()

    def find(self, text: str) -> list[PiiSpan]:
        """Non-overlapping PII spans in text order; earlier types in :data:`PLACEHOLDERS` win."""
        spans: list[PiiSpan] = []
        has_digit = _DIGIT.search(text) is not None
        for kind in self.kinds:
            if kind in _DIGIT_KINDS and not has_digit:
                continue
            for match in self._patterns[kind].finditer(text):
                span = self._valid(kind, match)
                if span is None:
                    continue
                start, end = span
                if any(start < s.end and s.start < end for s in spans):
                    continue
                spans.append(PiiSpan(kind, start, end, text[start:end]))
        spans.sort(key=lambda s: s.start)
        return spans

    def mask(self, text: str) -> MaskResult:
        """``text`` with each PII span replaced by its placeholder, and the counts by type."""
        spans = self.find(text)
        if not spans:
            return MaskResult(text)
        parts: list[str] = []
        counts: Counter[str] = Counter()
        last = 0
        for span in spans:
            parts.append(text[last : span.start])
            parts.append(PLACEHOLDERS[span.kind])
            counts[span.kind] += 1
            last = span.end
        parts.append(text[last:])
        return MaskResult("".join(parts), counts)


@lru_cache(maxsize=1)
def default_masker() -> PiiMasker:
    """A shared masker for all types (built on first use)."""
    return PiiMasker()


def find_pii(text: str) -> list[PiiSpan]:
    """PII spans in ``text`` (see :class:`PiiMasker`)."""
    return default_masker().find(text)


def mask_pii(text: str) -> MaskResult:
    """``text`` with PII replaced by typed placeholders such as ``[手机号]``."""
    return default_masker().mask(text)
