"""Stages 1-2: filter out what is not a chat turn, then clean the text that is.

Both are pure functions over message iterators; what they drop they count under a reason in the
given :class:`StageStats`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from finassist.data.records import Message, StageStats
from finassist.errors import InvalidInput

# Whole-message placeholders WeChat exports write for non-text content.
PLACEHOLDER_RE = re.compile(
    r"^\s*\[(?:图片|动画表情|表情|语音|视频|文件|位置|链接|小程序|名片|音乐|红包|转账|视频号|"
    r"语音通话|视频通话|聊天记录|引用)\]\s*$"
)
RECALL_RE = re.compile(r"撤回了一条消息|recalled a message")
SYSTEM_TYPES = frozenset({"系统通知", "系统消息", "system", "拍一拍"})
URL_RE = re.compile(r"(?:https?://|www\.)[^\s\u4e00-\u9fff，。！？；、）)]+", re.IGNORECASE)
# WeChat's own bracketed emoji ([微笑], [捂脸]) and Unicode emoji/pictographs.
WECHAT_EMOJI_RE = re.compile(r"\[[\u4e00-\u9fa5A-Za-z]{1,4}\]")
UNICODE_EMOJI_RE = re.compile(
    "[\U0001f000-\U0001faff\U00002600-\U000027bf\U0001f900-\U0001f9ff\ufe0f\u200d\u20e3]+"
)
CONTROL_RE = re.compile(
    r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u200b-\u200f\u2028\u2029\ufeff]"
)
SPACES_RE = re.compile(r"[ \t\u3000\u00a0]+")
NEWLINES_RE = re.compile(r"\s*\n\s*")
FULLWIDTH = {
    **{cp: cp - 0xFEE0 for cp in range(0xFF10, 0xFF1A)},
    **{cp: cp - 0xFEE0 for cp in range(0xFF21, 0xFF3B)},
    **{cp: cp - 0xFEE0 for cp in range(0xFF41, 0xFF5B)},
    0xFF20: 0x40,  # ＠ in e-mail addresses
    0xFF0E: 0x2E,
}


@dataclass(frozen=True)
class FilterOptions:
    """What the filter keeps: message types, forwarded messages, block words."""

    allowed_types: tuple[str, ...] = ("文本", "引用回复")
    drop_forwarded: bool = True
    block_words: tuple[str, ...] = ()


@dataclass(frozen=True)
class CleanOptions:
    """How text is cleaned: URLs (``remove`` | ``placeholder`` | ``keep``), emoji
    (``remove`` | ``keep``), and the longest message kept (longer ones are dropped)."""

    url_policy: str = "placeholder"
    emoji_policy: str = "remove"
    max_chars: int = 2000
    min_chars: int = 1


def load_block_words(path: Path | None = None) -> tuple[str, ...]:
    """Block words, one per line (``#`` comments); the packaged list when ``path`` is None."""
    if path is None:
        text = resources.files("finassist.data").joinpath("data/block_words.txt").read_text("utf-8")
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(
                f"屏蔽词文件 {path} 无法读取（需 UTF-8 文本，每行一个词）：{exc}"
            ) from exc
    words = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return tuple(sorted({w for w in words if w}))


@lru_cache(maxsize=8)
def _block_re(words: tuple[str, ...]) -> re.Pattern[str] | None:
    if not words:
        return None
    return re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)))


def filter_messages(
    messages: Iterable[Message], options: FilterOptions, stats: StageStats
) -> Iterator[Message]:
    """Drop system and recalled messages, disallowed types, forwarded messages, non-text
    placeholders and messages containing a block word."""
    allowed = frozenset(options.allowed_types)
    blocked = _block_re(options.block_words)
    for message in messages:
        stats.count_in += 1
        text = message.text
        if message.type in SYSTEM_TYPES:
            stats.drop("撤回消息" if RECALL_RE.search(text) else "系统消息")
        elif RECALL_RE.search(text) and len(text) < 60:
            stats.drop("撤回消息")
        elif message.type not in allowed:
            stats.drop(f"类型不在允许范围：{message.type or '空'}")
        elif options.drop_forwarded and message.forwarded:
            stats.drop("转发消息")
        elif PLACEHOLDER_RE.match(text):
            stats.drop("非文本占位符")
        elif blocked is not None and blocked.search(text):
            stats.drop("含屏蔽词")
        else:
            stats.count_out += 1
            yield message


def clean_text(text: str, options: CleanOptions) -> str:
    """Normalise width and whitespace, drop control characters, apply URL and emoji policy."""
    text = CONTROL_RE.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).translate(FULLWIDTH)
    if options.url_policy == "remove":
        text = URL_RE.sub("", text)
    elif options.url_policy == "placeholder":
        text = URL_RE.sub("[链接]", text)
    if options.emoji_policy == "remove":
        text = UNICODE_EMOJI_RE.sub("", WECHAT_EMOJI_RE.sub(_keep_known_brackets, text))
    text = SPACES_RE.sub(" ", text)
    return NEWLINES_RE.sub("\n", text).strip()


# Bracketed words that are our own placeholders or meaningful labels, not WeChat emoji.
_KEEP_BRACKETS = frozenset({"[链接]", "[附件]"})


def _keep_known_brackets(match: re.Match[str]) -> str:
    return match.group(0) if match.group(0) in _KEEP_BRACKETS else ""


def clean_messages(
    messages: Iterable[Message], options: CleanOptions, stats: StageStats
) -> Iterator[Message]:
    """Clean each message's text; drop messages left empty or longer than ``max_chars``."""
    for message in messages:
        stats.count_in += 1
        text = clean_text(message.text, options)
        if len(text) < options.min_chars:
            stats.drop("清洗后为空")
        elif len(text) > options.max_chars:
            stats.drop("消息过长")
        else:
            stats.count_out += 1
            yield message.with_text(text)
