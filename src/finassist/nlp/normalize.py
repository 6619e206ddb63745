"""Normalise a user's message before anything else reads it.

Full-width digits and Latin letters become ASCII, the ideographic space a space, traditional
characters simplified, runs of whitespace collapsed. Chinese punctuation is kept: it carries
sentence boundaries. Empty and over-long messages are refused with a message the user can act on.

>>> normalize_message("華東汽車　２０２５年的現金流")
'华东汽车 2025年的现金流'
"""

from __future__ import annotations

import re
from functools import lru_cache

from finassist.errors import InvalidInput

MAX_MESSAGE_CHARS = 2000

# Full-width ASCII variants (U+FF01..U+FF5E) map to U+0021..U+007E; we only fold the
# alphanumerics, since full-width Chinese punctuation (，。？) is the normal form in Chinese.
_FULLWIDTH_ALNUM = {
    **{cp: cp - 0xFEE0 for cp in range(0xFF10, 0xFF1A)},
    **{cp: cp - 0xFEE0 for cp in range(0xFF21, 0xFF3B)},
    **{cp: cp - 0xFEE0 for cp in range(0xFF41, 0xFF5B)},
    0x3000: 0x20,  # ideographic space
    0xFF0E: 0x2E,  # full-width full stop inside numbers: １２．５
    0xFF05: 0x25,  # full-width percent sign
}
_WHITESPACE = re.compile(r"\s+")
_CONTROL = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u200b-\u200f\ufeff]")


@lru_cache(maxsize=1)
def _t2s():  # type: ignore[no-untyped-def]
    # Loaded on first use, not at import: the dictionary takes a few milliseconds to read.
    from opencc import OpenCC

    return OpenCC("t2s")


def fold_width(text: str) -> str:
    """Full-width digits, letters, space, '.' and '%' to their ASCII forms."""
    return text.translate(_FULLWIDTH_ALNUM)


def to_simplified(text: str) -> str:
    """Traditional Chinese characters to simplified; simplified text is unchanged."""
    return _t2s().convert(text)


def normalize_text(text: str) -> str:
    """Fold width, simplify, drop control characters and collapse whitespace (no checks)."""
    text = _CONTROL.sub("", text)
    text = to_simplified(fold_width(text))
    return _WHITESPACE.sub(" ", text).strip()


def normalize_message(text: str, *, max_chars: int = MAX_MESSAGE_CHARS) -> str:
    """:func:`normalize_text` plus the checks a chat message needs.

    Raises :class:`InvalidInput` for an empty message or one longer than ``max_chars``.
    """
    if len(text) > max_chars * 4:
        # Refuse before doing any work on a huge paste.
        raise InvalidInput(f"消息过长（{len(text)} 字），请精简到 {max_chars} 字以内后重试。")
    normalized = normalize_text(text)
    if not normalized:
        raise InvalidInput("消息为空，请输入您的问题，例如：“华东汽车最近12个月的现金流怎么样？”")
    if len(normalized) > max_chars:
        raise InvalidInput(f"消息过长（{len(normalized)} 字），请精简到 {max_chars} 字以内后重试。")
    return normalized
