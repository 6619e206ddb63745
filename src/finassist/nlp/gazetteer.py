"""Name lists of the Chinese market and a longest-match scanner over them.

The packaged lists (``data/gazetteers/*.tsv``, built by :mod:`finassist.nlp.build_gazetteers`)
and the hand-written ``data/finance_terms.yaml`` become one lexicon: surface form -> what it
names. :meth:`Gazetteer.find` returns non-overlapping matches, longest first, left to right.

>>> gaz = Gazetteer.default()
>>> [(m.text, m.kind, m.canonical) for m in gaz.find("茅台和沪深300")]
[('茅台', 'stock', '贵州茅台'), ('沪深300', 'index', '沪深300')]
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

# When one surface names several things, the earlier kind wins (平安: the stock, not the fund house).
KIND_PRIORITY = (
    "index",
    "stock",
    "company",
    "fund",
    "fund_company",
    "market",
    "sector",
    "concept",
    "industry",
    "indicator",
    "macro",
    "commodity",
    "region",
)
MIN_STOCK_NAME = 3  # two-character short names (柳工) match too much ordinary text
MIN_FULL_SHORT = 4  # a short form cut out of a registered name (宇顺电子) must say this much
_LEGAL_SUFFIX = re.compile(r"(?:集团)?(?:股份有限公司|有限责任公司|有限公司)$")
_ADMIN_PREFIX = re.compile(r"^(?:[\u4e00-\u9fff]{2,3}?(?:省|市|自治区|自治州|地区|县|区))+")
_CODE = re.compile(r"(?<![0-9A-Za-z.])(\d{6})(?:\.(SH|SZ|BJ|sh|sz|bj))?(?![0-9])")
_ASCII = re.compile(r"[A-Za-z0-9]")


@dataclass(frozen=True)
class Entry:
    """What a surface form names: its kind, canonical name and code (may be empty)."""

    kind: str
    canonical: str
    code: str = ""


@dataclass(frozen=True)
class Match:
    """A lexicon hit in a text: ``text[start:end]`` names ``canonical`` of ``kind``."""

    text: str
    kind: str
    canonical: str
    code: str
    start: int
    end: int


class Gazetteer:
    """A lexicon of market names with a longest-leftmost scanner."""

    def __init__(self, entries: dict[str, Entry], codes: dict[str, Entry] | None = None) -> None:
        self.entries = entries
        self.codes = codes or {}
        self._lengths: dict[str, list[int]] = {}
        for surface in entries:
            self._lengths.setdefault(surface[0], []).append(len(surface))
        for key, lengths in self._lengths.items():
            self._lengths[key] = sorted(set(lengths), reverse=True)

    @classmethod
    def default(cls) -> Gazetteer:
        """The packaged lexicon (built once per process on first use)."""
        return _default_gazetteer()

    @classmethod
    def from_sources(cls, tables: dict[str, str], terms: dict[str, Any]) -> Gazetteer:
        """Build from TSV texts (``stocks``, ``funds``, ``indices``, ``industries``,
        ``concepts``; any may be missing) and the parsed ``finance_terms.yaml``."""
        builder = _Builder()
        stocks = _tsv(tables.get("stocks", ""))
        names = [r["name"] for r in stocks]
        suffix_counts = Counter(n[-k:] for n in names for k in (2, 3) if len(n) > k)
        prefixes = tuple(terms.get("region_prefixes", ()))
        generic = set(terms.get("sw2021_industries", ())) | set(terms.get("sector_terms", ()))
        generic |= {r["name"] for r in _tsv(tables.get("industries", ""))}
        generic |= {r["name"] for r in _tsv(tables.get("concepts", ""))}
        suffixes = tuple(terms.get("company_suffixes", ()))
        codes: dict[str, Entry] = {}
        for row in stocks:
            entry = Entry("stock", row["name"], row["code"])
            codes[row["code"]] = entry
            plain = re.sub(r"^\*?ST", "", row["name"])
            for surface in {row["name"], plain}:
                if len(surface) >= MIN_STOCK_NAME:
                    builder.add(surface, entry)
            rest = plain[2:]
            if plain.startswith(prefixes) and len(rest) >= MIN_STOCK_NAME and rest not in generic:
                distinctive = suffix_counts[rest] <= 1 and not rest.endswith(suffixes)
                if distinctive and not rest.endswith(("A", "B")):
                    builder.add(rest, entry)
        short_counts = Counter(
            _registered_short(r.get("full_name") or "", prefixes) for r in stocks
        )
        for row in stocks:
            full = (row.get("full_name") or "").strip()
            if not full:
                continue
            builder.add(full, Entry("company", row["name"], row["code"]))
            short = _registered_short(full, prefixes)
            if (
                len(short) >= MIN_FULL_SHORT
                and short_counts[short] == 1
                and short not in generic
                and short not in builder.entries
            ):
                builder.add(short, Entry("stock", row["name"], row["code"]))
        for alias, name in (terms.get("stock_aliases") or {}).items():
            target = next((r for r in stocks if r["name"] == name), None)
            builder.add(alias, Entry("stock", name, target["code"] if target else ""))
        for row in _tsv(tables.get("funds", "")):
            entry = Entry("fund", row["name"], row["code"])
            codes.setdefault(row["code"], entry)
            builder.add(row["name"], entry)
            short = re.sub(r"(联接|发起式|混合型|股票型|债券型|指数型)", "", row["name"])
            short = re.sub(r"(混合|股票|债券|指数|ETF|LOF|FOF|QDII)+$", "", short)
            if len(short) >= 4:
                builder.add(short, entry)
        for row in _tsv(tables.get("indices", "")):
            builder.add(row["name"], Entry("index", row["name"], row.get("code", "")))
        for item in terms.get("indices", ()):
            entry = Entry("index", item["name"], str(item.get("code", "")))
            for surface in (item["name"], *item.get("aliases", ())):
                builder.add(surface, entry)
        for row in _tsv(tables.get("industries", "")):
            builder.add(row["name"], Entry("industry", row["name"]))
        for name in terms.get("sw2021_industries", ()):
            builder.add(name, Entry("industry", name))
        for row in _tsv(tables.get("concepts", "")):
            builder.add(row["name"], Entry("concept", row["name"]))
        simple = {
            "sector_terms": "sector",
            "market_terms": "market",
            "fund_companies": "fund_company",
            "companies": "company",
            "indicators": "indicator",
            "macro_indicators": "macro",
            "commodities": "commodity",
            "regions": "region",
        }
        for key, kind in simple.items():
            for name in terms.get(key, ()):
                builder.add(str(name), Entry(kind, str(name)))
        return cls(builder.entries, codes)

    def lookup(self, surface: str) -> Entry | None:
        """The entry for an exact surface form, or None."""
        return self.entries.get(surface)

    def find(self, text: str) -> list[Match]:
        """Non-overlapping matches, longest first at each position, left to right.

        Six-digit codes (``600519``, ``000001.SZ``) match when a stock or fund has that code.
        ASCII names (ROE, CPI) match only as whole words.
        """
        found: list[Match] = []
        taken = [False] * len(text)
        for code in _CODE.finditer(text):
            entry = self.codes.get(code.group(1))
            if entry is not None:
                found.append(
                    Match(
                        code.group(0),
                        entry.kind,
                        entry.canonical,
                        entry.code,
                        code.start(),
                        code.end(),
                    )
                )
                for i in range(code.start(), code.end()):
                    taken[i] = True
        i, n = 0, len(text)
        while i < n:
            if taken[i]:
                i += 1
                continue
            hit = None
            for length in self._lengths.get(text[i], ()):
                end = i + length
                if end > n or any(taken[i:end]):
                    continue
                surface = text[i:end]
                entry = self.entries.get(surface)
                if entry is None:
                    continue
                if _ASCII.match(surface[-1]) and end < n and _ASCII.match(text[end]):
                    continue
                if _ASCII.match(surface[0]) and i > 0 and _ASCII.match(text[i - 1]):
                    continue
                hit = Match(surface, entry.kind, entry.canonical, entry.code, i, end)
                break
            if hit is None:
                i += 1
                continue
            found.append(hit)
            i = hit.end
        return sorted(found, key=lambda m: m.start)


def _registered_short(full_name: str, prefixes: tuple[str, ...]) -> str:
    """The name a registered company goes by in news: 深圳市宇顺电子股份有限公司 -> 宇顺电子
    (legal form and administrative prefix cut; a bare region prefix only when enough is left)."""
    core = _LEGAL_SUFFIX.sub("", full_name.strip())
    core = _ADMIN_PREFIX.sub("", core)
    for prefix in prefixes:
        if core.startswith(prefix) and len(core) - len(prefix) >= MIN_FULL_SHORT:
            return core[len(prefix) :]
    return core


class _Builder:
    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}

    def add(self, surface: str, entry: Entry) -> None:
        surface = surface.strip()
        if not surface:
            return
        old = self.entries.get(surface)
        if old is None or KIND_PRIORITY.index(entry.kind) < KIND_PRIORITY.index(old.kind):
            self.entries[surface] = entry


def _tsv(text: str) -> list[dict[str, str]]:
    if not text:
        return []
    return list(csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE))


def load_terms() -> dict[str, Any]:
    """The parsed ``data/finance_terms.yaml``."""
    text = resources.files("finassist.nlp").joinpath("data/finance_terms.yaml").read_text("utf-8")
    return dict(yaml.safe_load(text))


@lru_cache(maxsize=1)
def _default_gazetteer() -> Gazetteer:
    folder = resources.files("finassist.nlp").joinpath("data/gazetteers")
    tables = {}
    for name in ("stocks", "funds", "indices", "industries", "concepts"):
        item = folder.joinpath(f"{name}.tsv")
        if item.is_file():
            tables[name] = item.read_text("utf-8")
    return Gazetteer.from_sources(tables, load_terms())
