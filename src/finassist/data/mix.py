"""Stages 7, 10, 11: turn-position weighting, the mix of sources, the grouped split.

All three are deterministic given the seed: a sample's fate is a hash of the seed and its id (or
its conversation group), never the order it arrives in or a global random state.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from finassist.data.records import Sample, StageStats

SPLITS = ("train", "val", "test")
T = TypeVar("T")


def unit_hash(seed: int, key: str) -> float:
    """A number in [0, 1) fixed by ``seed`` and ``key``."""
    digest = hashlib.blake2b(f"{seed}\x1f{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True)
class WeightOptions:
    """Turns within ``start_cutoff`` of a session's start or ``end_cutoff`` of its end are
    openings/closings; those (that look like greetings or goodbyes, when ``require_greeting``)
    get ``low_weight`` and are kept with that probability."""

    start_cutoff: int = 1
    end_cutoff: int = 1
    low_weight: float = 0.3
    require_greeting: bool = True
    greeting_pattern: str = (
        r"^(?:[^，。！？\n]{0,8}(?:您好|你好|在的|在呢|早上好|下午好|晚上好|收到|好的|谢谢|感谢|"
        r"不客气|再见|拜拜|辛苦|祝您|有问题随时|随时联系|欢迎)[^\n]{0,24})$"
    )
    max_greeting_chars: int = 40


def turn_weight(sample: Sample, options: WeightOptions, greeting: re.Pattern[str]) -> float:
    """The sampling weight of a chat sample from its turn position (1.0 when not an edge)."""
    if sample.kind != "chat":
        return 1.0
    edge = (
        sample.position < options.start_cutoff
        or sample.position >= sample.turns - options.end_cutoff
    )
    if not edge:
        return 1.0
    if options.require_greeting:
        reply = sample.reply
        if len(reply) > options.max_greeting_chars or not greeting.search(reply):
            return 1.0
    return options.low_weight


def weight_by_position(
    samples: Iterable[Sample], options: WeightOptions, seed: int, stats: StageStats
) -> Iterator[Sample]:
    """Down-weight openings and closings by sampling: keep each with probability = weight."""
    greeting = re.compile(options.greeting_pattern)
    for sample in samples:
        stats.count_in += 1
        weight = turn_weight(sample, options, greeting)
        if weight < 1.0 and unit_hash(seed, f"w:{sample.id}") >= weight:
            stats.drop("开场/结束语降权抽样")
            continue
        sample.weight = weight
        stats.count_out += 1
        yield sample


@dataclass(frozen=True)
class MixOptions:
    """Shares of the final dataset by source (normalised to sum to 1)."""

    chat: float = 0.60
    knowledge: float = 0.35
    structured: float = 0.05

    def targets(self, chat_count: int) -> tuple[int, int]:
        """How many knowledge and structured samples go with ``chat_count`` chat samples."""
        if self.chat <= 0:
            return 0, 0
        per_chat = chat_count / self.chat
        return round(per_chat * self.knowledge), round(per_chat * self.structured)


@dataclass(frozen=True)
class SplitOptions:
    """Train/val/test shares (normalised), by conversation group."""

    train: float = 0.8
    val: float = 0.1
    test: float = 0.1


def assign_split(group: str, seed: int, options: SplitOptions) -> str:
    """The split of every sample of ``group``: fixed by seed and group, so no leakage."""
    total = options.train + options.val + options.test
    u = unit_hash(seed, f"split:{group}") * total
    if u < options.train:
        return "train"
    if u < options.train + options.val:
        return "val"
    return "test"


def take_evenly(
    items: Iterable[T], want: int, available: int, seed: int, key: Callable[[T], str]
) -> Iterator[T]:
    """About ``want`` of ``available`` items, each kept with probability want/available (by a
    seeded hash of ``key(item)``), never more than ``want``."""
    if want <= 0:
        return
    rate = min(1.0, want / max(available, 1))
    taken = 0
    for item in items:
        if taken >= want:
            return
        if rate >= 1.0 or unit_hash(seed, f"take:{key(item)}") < rate:
            taken += 1
            yield item
