"""A synthetic WeChat chat export with the noise real ones have (``finassist data sample-chatlog``).

Conversations between our service staff (``is_sender=1``) and bank relationship managers:
greetings and goodbyes, bursts of short messages, images and stickers as placeholders, recalled
and system messages, forwarded notices, URLs and emoji, multi-line replies, near-duplicate template
replies, and PII (phones, ID cards, bank cards, e-mails, credit codes, invoice numbers, names,
addresses) with valid check digits. Deterministic for a seed; written row by row, so a million
messages take constant memory.
"""

from __future__ import annotations

import csv
import os
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from finassist.data.readers import WECHAT_COLUMNS
from finassist.errors import InvalidInput
from finassist.nlp.pii import COMPOUND_SURNAMES, PROVINCES, id_card_check_digit, luhn_check_digit
from finassist.store.uscc import USCC_CHARSET, org_code_check_digit, uscc_check_digit

START = datetime(2025, 1, 6, 9, 0, 0)


@lru_cache(maxsize=1)
def phrases() -> dict[str, Any]:
    """The phrase tables of the generator (``data/chatlog.yaml``)."""
    text = resources.files("finassist.data").joinpath("data/chatlog.yaml").read_text("utf-8")
    return yaml.safe_load(text)


# -- PII with valid check digits (also used by the property-based tests) -----------------------

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蔡蒋"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红文斌"
_PERSON_TITLES = ("经理", "总", "女士", "先生", "主任", "会计", "行长", "总经理")
_ROADS = ("张江", "人民", "建设", "解放", "中山", "和平", "长江", "黄河", "科技", "创新")
_DISTRICTS = ("浦东新区", "高新区", "经开区", "滨江区", "天河区", "南山区", "江北区", "工业园区")
_AREA_CODES = ("010", "021", "022", "023", "0571", "0755", "020", "025", "0512", "028")


def fake_mobile(rng: random.Random) -> str:
    number = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
    style = rng.random()
    if style < 0.15:
        return f"{number[:3]}-{number[3:7]}-{number[7:]}"
    if style < 0.25:
        return f"{number[:3]} {number[3:7]} {number[7:]}"
    if style < 0.3:
        return f"+86{number}"
    return number


def fake_landline(rng: random.Random) -> str:
    local = f"{rng.randint(2, 9)}{rng.randrange(10**7):07d}"
    return f"{rng.choice(_AREA_CODES)}-{local}"


def fake_id_card(rng: random.Random) -> str:
    born = date_between(rng, 1950, 2004)
    body = f"{rng.randint(110000, 659000)}{born:%Y%m%d}{rng.randrange(1000):03d}"
    return body + id_card_check_digit(body)


def date_between(rng: random.Random, first_year: int, last_year: int) -> datetime:
    start = datetime(first_year, 1, 1)
    return start + timedelta(days=rng.randrange((last_year - first_year + 1) * 365))


def fake_bank_card(rng: random.Random) -> str:
    length = rng.choice((16, 19))
    body = rng.choice(("622202", "621700", "622848", "623058", "436742")) + "".join(
        rng.choice("0123456789") for _ in range(length - 7)
    )
    number = body + luhn_check_digit(body)
    if rng.random() < 0.2:
        return " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    return number


def fake_email(rng: random.Random) -> str:
    user = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 8)))
    return f"{user}{rng.randint(1, 999)}@{rng.choice(('163.com', 'qq.com', 'scf-bank.com.cn', 'example.cn'))}"


def fake_uscc(rng: random.Random) -> str:
    org = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
    org += org_code_check_digit(org)
    if org[-1] not in USCC_CHARSET:  # "X" check characters are not in the USCC alphabet
        org = org[:-1] + "0"
    first17 = f"91{rng.randint(110000, 659000)}{org}"
    return first17 + uscc_check_digit(first17)


def fake_invoice(rng: random.Random) -> str:
    """A 20-digit 数电票 number (older 8-digit numbers are only PII next to the word 发票)."""
    return f"{rng.randint(24, 26)}{rng.randrange(10**18):018d}"


def fake_name(rng: random.Random) -> str:
    surname = rng.choice(COMPOUND_SURNAMES) if rng.random() < 0.05 else rng.choice(_SURNAMES)
    given = "".join(rng.choice(_GIVEN) for _ in range(rng.choice((0, 1, 2))))
    return f"{surname}{given}{rng.choice(_PERSON_TITLES)}"


def fake_address(rng: random.Random) -> str:
    city = rng.choice(PROVINCES)
    suffix = rng.choice(("市", "", "省"))
    building = rng.choice(
        ("", f"{rng.randint(1, 12)}号楼{rng.randint(101, 2508)}室", f"{rng.randint(2, 30)}层")
    )
    return f"{city}{suffix}{rng.choice(_DISTRICTS)}{rng.choice(_ROADS)}路{rng.randint(1, 999)}号{building}"


PII_MAKERS: dict[str, Callable[[random.Random], str]] = {
    "mobile": fake_mobile,
    "landline": fake_landline,
    "id_card": fake_id_card,
    "bank_card": fake_bank_card,
    "email": fake_email,
    "uscc": fake_uscc,
    "invoice": fake_invoice,
    "person": fake_name,
    "address": fake_address,
}


# -- the conversations -------------------------------------------------------------------------


@dataclass
class ChatlogStats:
    """What was written: messages by kind, conversations, PII planted by type."""

    messages: int = 0
    conversations: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    pii: Counter[str] = field(default_factory=Counter)


@dataclass
class _Row:
    type_name: str
    is_sender: int
    text: str
    time: datetime
    forwarded: int = 0


class _Conversation:
    """Generates the sessions of one relationship manager's chat."""

    def __init__(self, rng: random.Random, stats: ChatlogStats) -> None:
        self.rng = rng
        self.stats = stats
        self.p = phrases()
        self.title = rng.choice(_SURNAMES) + rng.choice(self.p["titles"])

    def fill(self, template: str, values: dict[str, str]) -> str:
        """``template`` with its slots; a PII slot gets a value on first use in the session."""
        for key in PII_MAKERS:
            if key not in values and "{" + key + "}" in template:
                values[key] = PII_MAKERS[key](self.rng)
                self.stats.pii[key] += 1
        return template.format_map(values)

    def session(self, start: datetime) -> Iterator[_Row]:
        rng, p = self.rng, self.p
        now = start
        values = {
            "title": self.title,
            "ent": rng.choice(p["enterprises"]),
            "amount": str(rng.choice((50, 80, 100, 200, 300, 500, 1000))),
            "days": str(rng.choice((3, 5, 30, 45, 60, 90, 120))),
            "date": f"{rng.randint(1, 12)}月{rng.randint(1, 28)}日",
            "rate": f"{rng.choice((3.6, 3.85, 4.2, 4.5, 5.1))}",
        }

        def step(low: int = 5, high: int = 240) -> datetime:
            nonlocal now
            now += timedelta(seconds=rng.randint(low, high))
            return now

        def say(sender: int, template: str, kind: str) -> _Row:
            self.stats.kinds[kind] += 1
            return _Row("文本", sender, self.fill(template, values), step())

        if rng.random() < 0.05:
            self.stats.kinds["system"] += 1
            yield _Row("系统通知", 0, self.fill(rng.choice(p["system"]), values), step())
        if rng.random() < 0.25:
            for text in rng.choice(p["burst"]):
                self.stats.kinds["burst"] += 1
                yield _Row("文本", 0, self.fill(text, values), step(1, 8))
        else:
            yield say(0, rng.choice(p["user_open"]), "greeting")
        yield say(1, rng.choice(p["staff_open"]), "greeting")
        for _ in range(rng.randint(1, 4)):
            topic = rng.choice(p["topics"])
            yield say(0, rng.choice(topic["q"]), "question")
            noise = rng.random()
            if noise < 0.08:
                self.stats.kinds["image"] += 1
                yield _Row("图片", 0, "[图片]", step(2, 20))
            elif noise < 0.12:
                self.stats.kinds["sticker"] += 1
                yield _Row("动画表情", 0, "[动画表情]", step(2, 20))
            elif noise < 0.15:
                self.stats.kinds["recalled"] += 1
                yield _Row("系统通知", 0, f'"{self.title}" 撤回了一条消息', step(2, 20))
            elif noise < 0.18:
                self.stats.kinds["forwarded"] += 1
                yield _Row("文本", 0, self.fill(rng.choice(p["forwarded"]), values), step(), 1)
            yield say(1, rng.choice(topic["a"]), "answer")
            if rng.random() < 0.3:  # a second reply in a burst ("稍等" then the answer)
                self.stats.kinds["burst"] += 1
                yield _Row("文本", 1, self.fill(rng.choice(topic["a"]), values), step(3, 30))
        yield say(0, rng.choice(p["user_close"]), "goodbye")
        yield say(1, rng.choice(p["staff_close"]), "goodbye")


def generate_rows(messages: int, seed: int, stats: ChatlogStats) -> Iterator[tuple[str, _Row]]:
    """(talker, row) pairs, conversation after conversation, until ``messages`` rows."""
    rng = random.Random(seed)
    written = 0
    conv = 0
    while written < messages:
        conv += 1
        talker = f"wxid_{rng.getrandbits(40):010x}"
        chat = _Conversation(rng, stats)
        day = START + timedelta(days=rng.randrange(30), minutes=rng.randrange(600))
        for _ in range(rng.randint(2, 8)):
            for row in chat.session(day):
                yield talker, row
                written += 1
                if written >= messages:
                    return
            day += timedelta(days=rng.randint(1, 9), minutes=rng.randint(-120, 120))


def write_sample_chatlog(
    path: Path,
    messages: int = 2000,
    seed: int = 42,
    encoding: str = "utf-8",
    progress: Callable[[int, int], None] | None = None,
) -> ChatlogStats:
    """Write a synthetic WeChat export CSV with ``messages`` rows (atomically: a temp file is
    renamed into place) and return what it contains."""
    if messages < 1:
        raise InvalidInput("消息条数至少为 1。")
    stats = ChatlogStats()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    rng = random.Random(seed + 1)
    talkers: set[str] = set()
    try:
        # GBK has no emoji: an export from a GBK system shows them as "?", and so does ours.
        errors = "strict" if encoding.lower().replace("_", "-").startswith("utf") else "replace"
        with tmp.open("w", encoding=encoding, errors=errors, newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(WECHAT_COLUMNS)
            for n, (talker, row) in enumerate(generate_rows(messages, seed, stats), start=1):
                talkers.add(talker)
                writer.writerow(
                    (
                        n,
                        rng.getrandbits(62),
                        row.type_name,
                        row.is_sender,
                        talker,
                        row.text,
                        "",
                        row.time.strftime("%Y-%m-%d %H:%M:%S"),
                        "",
                        row.forwarded,
                    )
                )
                if progress is not None and n % 10_000 == 0:
                    progress(n, messages)
        os.replace(tmp, path)
    except UnicodeEncodeError as exc:
        tmp.unlink(missing_ok=True)
        raise InvalidInput(f"示例聊天记录无法用 {encoding} 编码写出：{exc.reason}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    stats.messages = messages
    stats.conversations = len(talkers)
    return stats
