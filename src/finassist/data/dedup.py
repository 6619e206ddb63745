"""Stage 6a-b: exact and near-duplicate removal, streaming.

Exact: a hash of the sample's normalised text (punctuation, spaces and case ignored).
Near-duplicate: MinHash over character n-grams of the last question and the reply, looked up in a
datasketch ``MinHashLSH`` index; a sample whose estimated Jaccard similarity to a kept one reaches
the threshold is dropped, unless the two say different things: a different number, amount, date,
contrast word or negation (:mod:`finassist.data.meaning`) keeps it ("利率4.2%" and "利率4.5%" in
an otherwise equal reply are both kept). Only kept samples enter the index, so its size is the
number of distinct samples, not the input size.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from finassist.data.meaning import Facts, load_guard
from finassist.data.records import Sample, StageStats
from finassist.errors import InvalidInput

_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalise(text: str) -> str:
    """Lower case, without spaces, punctuation and symbols (for duplicate keys)."""
    return _NOT_WORD.sub("", text.lower())


def exact_key(sample: Sample) -> bytes:
    """A 16-byte hash of the sample's normalised messages."""
    joined = "\x1f".join(normalise(m["content"]) for m in sample.messages)
    return hashlib.blake2b(joined.encode("utf-8"), digest_size=16).digest()


def exact_dedup(samples: Iterable[Sample], stats: StageStats) -> Iterator[Sample]:
    """Drop samples whose normalised messages equal those of an earlier sample."""
    seen: set[bytes] = set()
    for sample in samples:
        stats.count_in += 1
        key = exact_key(sample)
        if key in seen:
            stats.drop("完全重复")
            continue
        seen.add(key)
        stats.count_out += 1
        yield sample


def require_data_extra(module: str) -> Any:
    """Import an optional dependency of the data pipeline, or say how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise InvalidInput(
            f"数据流水线的去重需要可选依赖 {module.split('.')[0]}，请先安装：pip install 'finassist[data]'"
        ) from None


def shingles(text: str, n: int) -> list[int]:
    """Stable 32-bit hashes of the character n-grams of the normalised text."""
    text = normalise(text)
    if len(text) <= n:
        return [zlib.crc32(text.encode("utf-8"))] if text else []
    return [zlib.crc32(text[i : i + n].encode("utf-8")) for i in range(len(text) - n + 1)]


def _identity(value: int) -> int:
    return value


@dataclass(frozen=True)
class NearDupOptions:
    """MinHash LSH settings: Jaccard threshold, permutations, n-gram size."""

    threshold: float = 0.8
    num_perm: int = 64
    ngram: int = 4
    seed: int = 1


class NearDuplicateIndex:
    """A MinHash LSH index over "question + reply" texts (datasketch)."""

    def __init__(self, options: NearDupOptions) -> None:
        datasketch = require_data_extra("datasketch")
        self.options = options
        # One MinHash object is reused: the LSH index keeps only the band hashes, not the object,
        # and building a MinHash per sample costs more than hashing its n-grams.
        self._minhash = datasketch.MinHash(
            num_perm=options.num_perm, seed=options.seed, hashfunc=_identity
        )
        self._empty = self._minhash.hashvalues.copy()
        self._lsh = datasketch.MinHashLSH(threshold=options.threshold, num_perm=options.num_perm)
        self._facts: dict[str, int] = {}  # key -> id of its facts (equal facts, equal id)
        self._fact_ids: dict[Facts, int] = {}
        self._guard = load_guard()
        self.size = 0
        self.refused = 0  # near-duplicates kept because their facts differ

    def minhash(self, text: str) -> Any:
        """The MinHash of ``text``'s character n-grams (valid until the next call)."""
        m = self._minhash
        m.hashvalues = self._empty.copy()
        m.update_batch(shingles(text, self.options.ngram))
        return m

    def add_if_new(self, key: str, text: str) -> bool:
        """Insert ``text`` unless a near-duplicate with the same facts is already indexed;
        True if inserted."""
        m = self.minhash(text)
        hits = self._lsh.query(m)
        facts = self._fact_ids.setdefault(self._guard.facts(text), len(self._fact_ids))
        if hits:
            if any(self._facts[hit] == facts for hit in hits):
                return False
            self.refused += 1
        self._lsh.insert(key, m, check_duplication=False)
        self._facts[key] = facts
        self.size += 1
        return True


def near_text(sample: Sample) -> str:
    """What near-duplicate detection compares: the last question and the reply."""
    return f"{sample.prompt}\n{sample.reply}"


def near_dedup(
    samples: Iterable[Sample], options: NearDupOptions, stats: StageStats
) -> Iterator[Sample]:
    """Drop samples whose question and reply nearly equal those of a kept sample."""
    index = NearDuplicateIndex(options)
    for sample in samples:
        stats.count_in += 1
        if not index.add_if_new(sample.id, near_text(sample)):
            stats.drop("近似重复（MinHash）")
            continue
        stats.count_out += 1
        yield sample
    if index.refused:
        stats.notes.append(f"字面相近但数字、关键词或否定不同，保留 {index.refused:,} 条")
