"""Resolve enterprise names a user typed: fuzzy search, and mentions inside a free-text message.

Only the caller's visible enterprises are loaded, so neither method can reveal another
manager's client. ``scan`` runs on every turn and is index-based (a dict keyed by the first two
characters of every name, then by length), about 20 µs per message with 10,000 enterprises.

>>> d = EnterpriseDirectory.from_entries([
...     Entry("E1", "华东汽车集团有限公司", "华东汽车", ("HD Auto",), "core", "汽车制造")])
>>> [m.name for m in d.search("华东汽年")]
['华东汽车集团有限公司']
>>> [(m.matched_text, m.start) for m in d.scan("请看看华东汽车和hd auto的情况")]
[('华东汽车', 3), ('hd auto', 8)]
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from rapidfuzz import fuzz, process
from sqlalchemy import select

from finassist.finance import rows as rw
from finassist.finance.access import visible_ids
from finassist.finance.base import Tool, ToolContext, ToolResult, register
from finassist.finance.evidence import Evidence
from finassist.store import schema

MIN_SURFACE_CHARS = 2
FUZZY_CUTOFF = 70.0  # fuzz.ratio; "华东汽年" vs "华东汽车" is 75, unrelated names score < 60
SCORE_EXACT = 100.0
SCORE_MENTION = 95.0  # a full name/short name/alias appears inside the query
SCORE_CONTAINS = 80.0  # the query is part of a name: 80..94 by how much of the name it covers
FUZZY_SCALE = 0.75  # fuzzy scores map into 52..75, below every substring match
SCORE_PREFIX = 50.0  # the query mentions the first two characters of a short name
# Company-form suffixes dropped to form one more surface name:
# "华东汽车集团有限公司" -> "华东汽车集团".
_COMPANY_SUFFIXES = ("股份有限公司", "有限责任公司", "有限公司", "股份公司", "公司")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_LATIN_ALNUM = re.compile(r"[0-9a-z]")


@dataclass(frozen=True)
class Entry:
    """One enterprise as the directory knows it."""

    id: str
    name: str
    short_name: str
    aliases: tuple[str, ...]
    role: str
    industry: str = ""


@dataclass(frozen=True)
class Match:
    """An enterprise found for a query or in a message; ``start:end`` spans ``matched_text``."""

    id: str
    name: str
    short_name: str
    role: str
    score: float
    matched_text: str
    start: int
    end: int


def _fold(text: str) -> str:
    """ASCII letters to lower case; length-preserving, so positions stay valid."""
    return text.translate(_ASCII_LOWER)


def _surfaces(entry: Entry) -> set[str]:
    """Every folded form under which the enterprise may be mentioned."""
    forms = {entry.name, entry.short_name, *entry.aliases}
    for suffix in _COMPANY_SUFFIXES:
        if entry.name.endswith(suffix):
            forms.add(entry.name[: -len(suffix)])
            break
    return {_fold(f.strip()) for f in forms if len(f.strip()) >= MIN_SURFACE_CHARS}


class EnterpriseDirectory:
    """Names of the caller's visible enterprises, loaded once on first use."""

    def __init__(self, ctx: ToolContext) -> None:
        self._ctx: ToolContext | None = ctx
        self._entries: list[Entry] = []
        self._loaded = False

    @classmethod
    def from_entries(cls, entries: list[Entry]) -> EnterpriseDirectory:
        """A directory over given entries (tests, benchmarks); no database involved."""
        directory = cls.__new__(cls)
        directory._ctx = None
        directory._build(entries)
        return directory

    # -- loading -------------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load the visible enterprises and build the indexes (idempotent)."""
        if self._loaded:
            return
        assert self._ctx is not None
        allowed = visible_ids(self._ctx)
        e = schema.enterprises
        query = select(e.c.id, e.c.name, e.c.short_name, e.c.aliases, e.c.role, e.c.industry)
        with self._ctx.read() as conn:
            rows = conn.execute(query.order_by(e.c.id)).all()
        entries = [
            Entry(r.id, r.name, r.short_name, tuple(_aliases(r.aliases)), r.role, r.industry)
            for r in rows
            if allowed is None or r.id in allowed
        ]
        self._build(entries)

    def _build(self, entries: list[Entry]) -> None:
        self._entries = entries
        self._by_id = {entry.id: entry for entry in entries}
        # surface -> entry ids; one surface may name several enterprises (ambiguous).
        self._surface_ids: dict[str, list[str]] = defaultdict(list)
        for entry in entries:
            for surface in _surfaces(entry):
                self._surface_ids[surface].append(entry.id)
        # first two characters -> [(length, {surface: ids})], longest first, for scan().
        by_key: dict[str, dict[int, dict[str, list[str]]]] = defaultdict(lambda: defaultdict(dict))
        for surface, ids in self._surface_ids.items():
            by_key[surface[:2]][len(surface)][surface] = ids
        self._index = {
            key: sorted(lengths.items(), key=lambda item: -item[0])
            for key, lengths in by_key.items()
        }
        self._surface_list = list(self._surface_ids)
        # first two characters of a short name -> entry ids, for search()'s last resort.
        self._prefix_ids: dict[str, list[str]] = defaultdict(list)
        for entry in entries:
            short = _fold(entry.short_name)
            if len(short) > MIN_SURFACE_CHARS:
                self._prefix_ids[short[:MIN_SURFACE_CHARS]].append(entry.id)
        self._loaded = True

    # -- lookups -------------------------------------------------------------------------------

    def __len__(self) -> int:
        self.warm_up()
        return len(self._entries)

    def get(self, enterprise_id: str) -> Entry | None:
        """The visible enterprise with this id, or None."""
        self.warm_up()
        return self._by_id.get(enterprise_id)

    def scan(self, text: str) -> list[Match]:
        """Every enterprise mentioned in ``text`` by full name, short name or alias.

        Overlaps are resolved longest first; a surface shared by several enterprises yields one
        match per enterprise with the same span (the caller should ask which one). Latin aliases
        must stand as words ("auto" does not match inside "automatic"). Sorted by position.
        """
        self.warm_up()
        folded = _fold(text)
        candidates: list[tuple[int, int, str]] = []  # (start, end, surface)
        for start in range(len(folded) - 1):
            buckets = self._index.get(folded[start : start + 2])
            if buckets is None:
                continue
            for length, surfaces in buckets:
                surface = folded[start : start + length]
                if surface in surfaces and _word_bounded(folded, start, start + length):
                    candidates.append((start, start + length, surface))
                    break  # a shorter surface at the same start always loses to this one
        candidates.sort(key=lambda c: (c[0] - c[1], c[0]))
        taken: list[tuple[int, int, str]] = []
        for start, end, surface in candidates:
            if all(end <= s or start >= e for s, e, _ in taken):
                taken.append((start, end, surface))
        matches = [
            self._match(entry_id, SCORE_EXACT, text[start:end], start, end)
            for start, end, surface in sorted(taken)
            for entry_id in self._surface_ids[surface]
        ]
        return matches

    def search(self, query: str, limit: int = 5) -> list[Match]:
        """Enterprises best matching ``query``, best first; empty when nothing is close.

        Tiers, each used only when the ones before found nothing: (1) exact name, short name or
        alias, and names mentioned inside the query, plus names containing the query;
        (2) fuzzy similarity (typos: "华东汽年" -> 华东汽车); (3) the query mentions the first two
        characters of a short name ("华东那家" -> 华东汽车).
        """
        self.warm_up()
        text = " ".join(query.split())  # positions in matches refer to this form of the query
        q = _fold(text)
        if len(q) < MIN_SURFACE_CHARS:
            return []
        found: dict[str, Match] = {}
        for tier in (self._exact_and_substring, self._fuzzy, self._prefix):
            for match in tier(q, text):
                best = found.get(match.id)
                if best is None or match.score > best.score:
                    found[match.id] = match
            if found:
                break
        ranked = sorted(found.values(), key=lambda m: (-m.score, len(m.name), m.id))
        return ranked[:limit]

    # -- search tiers --------------------------------------------------------------------------

    def _exact_and_substring(self, q: str, query: str) -> list[Match]:
        matches = [
            self._match(i, SCORE_EXACT, query, 0, len(query)) for i in self._surface_ids.get(q, [])
        ]
        for mention in self.scan(query):
            matches.append(
                self._match(
                    mention.id, SCORE_MENTION, mention.matched_text, mention.start, mention.end
                )
            )
        for surface, ids in self._surface_ids.items():
            if q in surface and q != surface:
                score = SCORE_CONTAINS + 14.0 * len(q) / len(surface)
                matches.extend(self._match(i, score, query, 0, len(query)) for i in ids)
        return matches

    def _fuzzy(self, q: str, query: str) -> list[Match]:
        hits = process.extract(
            q, self._surface_list, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF, limit=50
        )
        return [
            self._match(i, score * FUZZY_SCALE, query, 0, len(query))
            for surface, score, _ in hits
            for i in self._surface_ids[surface]
        ]

    def _prefix(self, q: str, query: str) -> list[Match]:
        matches: list[Match] = []
        for start in range(len(q) - 1):
            for entry_id in self._prefix_ids.get(q[start : start + 2], []):
                matches.append(
                    self._match(entry_id, SCORE_PREFIX, query[start : start + 2], start, start + 2)
                )
        return matches

    def _match(self, entry_id: str, score: float, text: str, start: int, end: int) -> Match:
        entry = self._by_id[entry_id]
        return Match(
            entry.id, entry.name, entry.short_name, entry.role, round(score, 1), text, start, end
        )


def _word_bounded(folded: str, start: int, end: int) -> bool:
    """Latin-ended surfaces must not continue into more Latin letters or digits."""
    if _LATIN_ALNUM.match(folded[start]) and start > 0 and _LATIN_ALNUM.match(folded[start - 1]):
        return False
    return not (
        _LATIN_ALNUM.match(folded[end - 1])
        and end < len(folded)
        and _LATIN_ALNUM.match(folded[end])
    )


def _aliases(raw: str | None) -> list[str]:
    """The JSON alias list of a row; a malformed value counts as no aliases."""
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


@register
class FindEnterprise(Tool):
    """Resolve a name, short name, alias or misspelling to enterprise ids."""

    name = "find_enterprise"
    description = "按企业全称、简称或别名（允许错别字）查找您有权查看的企业，返回候选企业编号。"

    class Args(BaseModel):
        model_config = ConfigDict(extra="forbid")

        query: Annotated[
            str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)
        ] = Field(description="企业名称、简称或别名，例如“华东汽车”")
        limit: int = Field(5, ge=1, le=20, description="最多返回几个候选，1–20，默认 5")

    def execute(self, ctx: ToolContext, args: Args) -> ToolResult:
        directory = EnterpriseDirectory(ctx)
        matches = directory.search(args.query, args.limit)
        ev = Evidence(ctx, self.name)
        items = []
        for m in matches:
            row = rw.enterprise(ctx, m.id)
            if row is not None:
                ev.enterprise(row)
            item = {"id": m.id, "name": m.name, "short_name": m.short_name, "role": m.role}
            item |= {"industry": row.industry if row else "", "score": m.score}
            items.append(item)
        data = {"query": args.query, "matches": items}
        return ToolResult(self.name, args.model_dump(), data, ev.records)
