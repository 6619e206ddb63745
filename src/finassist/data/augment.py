"""Stage 9: optional augmentation — finance synonyms from a table, and model paraphrases.

Augmented samples are added beside their originals, in the same conversation group (so they land
in the same split), with ``meta["augmented"]`` saying how they were made.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from finassist.data.llm import paraphrase
from finassist.data.records import Sample, StageStats
from finassist.errors import InvalidInput
from finassist.llm.types import ChatBackend


def load_synonyms(path: Path | None = None) -> tuple[tuple[str, ...], ...]:
    """Synonym groups from YAML (``groups: [[账期, 付款周期], ...]``); packaged table by default."""
    if path is None:
        text = resources.files("finassist.data").joinpath("data/synonyms.yaml").read_text("utf-8")
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"同义词表 {path} 无法读取：{exc}") from exc
    try:
        data = yaml.safe_load(text) or {}
        groups = tuple(tuple(str(w) for w in group) for group in data.get("groups", []))
    except (yaml.YAMLError, TypeError, AttributeError) as exc:
        raise InvalidInput(f"同义词表格式有误（应为 groups: [[词, 同义词], ...]）：{exc}") from exc
    return tuple(g for g in groups if len(g) >= 2)


@lru_cache(maxsize=4)
def _synonym_re(
    groups: tuple[tuple[str, ...], ...],
) -> tuple[re.Pattern[str], dict[str, tuple[str, ...]]]:
    lookup = {word: group for group in groups for word in group}
    pattern = re.compile("|".join(re.escape(w) for w in sorted(lookup, key=len, reverse=True)))
    return pattern, lookup


def _pick(seed: int, key: str) -> float:
    digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def replace_synonyms(text: str, groups: tuple[tuple[str, ...], ...], seed: int, key: str) -> str:
    """``text`` with each table word replaced by another word of its group (seeded choice)."""
    if not groups:
        return text
    pattern, lookup = _synonym_re(groups)
    count = 0

    def swap(match: re.Match[str]) -> str:
        nonlocal count
        word = match.group(0)
        others = [w for w in lookup[word] if w != word]
        count += 1
        return others[int(_pick(seed, f"{key}:{count}") * len(others))]

    return pattern.sub(swap, text)


def augment(
    samples: Iterable[Sample],
    *,
    groups: tuple[tuple[str, ...], ...],
    synonym_ratio: float,
    backend: ChatBackend | None,
    paraphrase_ratio: float,
    seed: int,
    stats: StageStats,
) -> Iterator[Sample]:
    """Yield every sample, and after it its augmented copies (a chosen fraction of samples)."""
    for sample in samples:
        stats.count_in += 1
        stats.count_out += 1
        yield sample
        if sample.meta.get("augmented"):
            continue
        if synonym_ratio > 0 and _pick(seed, f"syn:{sample.id}") < synonym_ratio:
            messages = [
                {**m, "content": replace_synonyms(m["content"], groups, seed, f"{sample.id}:{i}")}
                for i, m in enumerate(sample.messages)
            ]
            if messages != sample.messages:
                stats.dropped["新增·同义词替换"] += 1
                stats.count_out += 1
                yield replace(
                    sample,
                    id=f"{sample.id}-syn",
                    messages=messages,
                    meta={**sample.meta, "augmented": "synonym", "source_id": sample.id},
                )
        if (
            backend is not None
            and paraphrase_ratio > 0
            and _pick(seed, f"para:{sample.id}") < paraphrase_ratio
        ):
            text = paraphrase(backend, sample.reply)
            if text and text != sample.reply:
                stats.dropped["新增·模型改写"] += 1
                stats.count_out += 1
                yield replace(
                    sample,
                    id=f"{sample.id}-para",
                    messages=[*sample.messages[:-1], {"role": "assistant", "content": text}],
                    meta={**sample.meta, "augmented": "paraphrase", "source_id": sample.id},
                )
