"""Chinese-aware chunking: headings, legal articles (第X条), paragraphs, then sentence ends.

A legal article is one chunk (split by sentences only when it is longer than ``max_chars``);
other paragraphs under the same heading are packed up to ``target_chars``. A split carries the
last sentence of the previous piece as overlap. Chunks never cross a heading or a page.

>>> [c.locator for c in chunk_sections([Section("第一条 甲。\\n第二条 乙。")])]
['第一条', '第二条']
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from finassist.kb.types import Chunk, Section

TARGET_CHARS = 360
MAX_CHARS = 720
OVERLAP_CHARS = 80

ARTICLE = re.compile(
    r"^\s*(第[零〇一二三四五六七八九十百千万两\d]+条(?:之[一二三四五六七八九十]+)?)"
)
_SENTENCE = re.compile(r"[^。！？；!?;\n]+[。！？；!?;]*[”’」』)]?")


@dataclass
class _Unit:
    text: str
    heading: str
    page: int | None
    article: str = ""


def sentences(text: str) -> list[str]:
    """Split at 。！？； (and their ASCII forms), keeping the punctuation."""
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


def _units(section: Section) -> Iterable[_Unit]:
    """Articles (with their following paragraphs) and plain paragraphs of one section."""
    current: _Unit | None = None
    for raw in section.text.splitlines():
        line = raw.strip()
        if not line:
            continue
        match = ARTICLE.match(line)
        if match:
            if current is not None:
                yield current
            current = _Unit(line, section.heading, section.page, match.group(1))
        elif current is not None and current.article:
            current.text += "\n" + line
        else:
            if current is not None:
                yield current
            current = _Unit(line, section.heading, section.page)
    if current is not None:
        yield current


def _split_long(text: str, target: int, overlap: int) -> list[str]:
    """Pieces of about ``target`` characters at sentence ends; each repeats the last sentence."""
    parts: list[str] = []
    piece: list[str] = []
    size = 0
    for sentence in sentences(text):
        # A sentence longer than a whole chunk is cut hard, as a last resort.
        while len(sentence) > target * 2:
            parts.append(sentence[: target * 2])
            sentence = sentence[target * 2 - overlap :]
        if piece and size + len(sentence) > target:
            parts.append("".join(piece))
            tail = piece[-1] if len(piece[-1]) <= overlap else ""
            piece, size = ([tail], len(tail)) if tail else ([], 0)
        piece.append(sentence)
        size += len(sentence)
    if piece:
        parts.append("".join(piece))
    return parts


def chunk_sections(
    sections: Iterable[Section],
    *,
    target_chars: int = TARGET_CHARS,
    max_chars: int = MAX_CHARS,
    overlap_chars: int = OVERLAP_CHARS,
) -> list[Chunk]:
    """Chunks of a document's sections, numbered from 0 in reading order."""
    chunks: list[Chunk] = []

    def emit(text: str, heading: str, page: int | None, locator: str) -> None:
        text = text.strip()
        if text:
            chunks.append(Chunk(len(chunks), text, heading, locator, page))

    def locate(heading: str, page: int | None) -> str:
        if page is not None:
            return f"第{page}页"
        return heading.rsplit(" / ", 1)[-1]

    for section in sections:
        packed: list[str] = []
        size = 0

        def flush(section: Section = section) -> None:
            nonlocal packed, size
            if packed:
                emit(
                    "\n".join(packed),
                    section.heading,
                    section.page,
                    locate(section.heading, section.page),
                )
            packed, size = [], 0

        for unit in _units(section):
            if unit.article:
                flush()
                pieces = (
                    [unit.text]
                    if len(unit.text) <= max_chars
                    else _split_long(unit.text, target_chars, overlap_chars)
                )
                for piece in pieces:
                    emit(piece, unit.heading, unit.page, unit.article)
                continue
            if len(unit.text) > max_chars:
                flush()
                for piece in _split_long(unit.text, target_chars, overlap_chars):
                    emit(piece, unit.heading, unit.page, locate(unit.heading, unit.page))
                continue
            if packed and size + len(unit.text) > target_chars:
                flush()
            packed.append(unit.text)
            size += len(unit.text)
        flush()
    return chunks
