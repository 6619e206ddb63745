"""Stages 3-5: merge bursts, mask PII, cut sessions, and build samples with context.

Chat exports are grouped by conversation or sorted by time; either way each conversation's
messages arrive in order. Merging and sessionising keep per-conversation state only for the
conversations still open, at most ``max_open`` of them (the least recently active is closed
first), so memory does not grow with the input.

PII is masked per message, before samples are built: a message appears in the context of several
samples, and masking it once is both cheaper and guarantees every copy is masked.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from finassist.data.records import Message, Sample, StageStats
from finassist.nlp.pii import KIND_TITLES, PiiMasker

DEFAULT_MAX_OPEN = 20_000


def estimate_tokens(text: str) -> int:
    """Tokens, approximated by characters: Chinese chat is about one token per character or
    less in current tokenizers, so the estimate errs on the side of a shorter context."""
    return len(text)


def merge_consecutive(
    messages: Iterable[Message],
    gap_seconds: float,
    stats: StageStats,
    max_open: int = DEFAULT_MAX_OPEN,
) -> Iterator[Message]:
    """Join consecutive messages of one sender in one conversation sent within ``gap_seconds``
    of each other (a burst of short messages becomes one turn, lines joined by a newline)."""
    pending: OrderedDict[str, Message] = OrderedDict()
    for message in messages:
        stats.count_in += 1
        key = message.conversation
        last = pending.get(key)
        if (
            last is not None
            and last.role == message.role
            and 0 <= message.time - last.time <= gap_seconds
        ):
            pending[key] = last.with_text(f"{last.text}\n{message.text}", message.time)
            pending.move_to_end(key)
            stats.drop("与上一条合并")
            continue
        if last is not None:
            stats.count_out += 1
            yield last
        pending[key] = message
        pending.move_to_end(key)
        if len(pending) > max_open:
            _, oldest = pending.popitem(last=False)
            stats.count_out += 1
            yield oldest
    for message in pending.values():
        stats.count_out += 1
        yield message


def mask_messages(
    messages: Iterable[Message], masker: PiiMasker, stats: StageStats
) -> Iterator[Message]:
    """Replace PII in every message with typed placeholders; counts go to ``stats.dropped``
    under the Chinese type name (nothing is dropped: the stage reports what it replaced)."""
    for message in messages:
        stats.count_in += 1
        result = masker.mask(message.text)
        stats.count_out += 1
        if result.counts:
            for kind, n in result.counts.items():
                stats.dropped[KIND_TITLES[kind]] += n
            yield message.with_text(result.text)
        else:
            yield message


@dataclass
class Session:
    """One conversation session: turns alternate roles (consecutive same-role turns joined)."""

    id: str
    conversation: str
    turns: list[Message] = field(default_factory=list)

    def add(self, message: Message) -> None:
        if self.turns and self.turns[-1].role == message.role:
            last = self.turns[-1]
            self.turns[-1] = last.with_text(f"{last.text}\n{message.text}", message.time)
        else:
            self.turns.append(message)


def _session_id(conversation: str, start: float) -> str:
    return f"{conversation}@{datetime.fromtimestamp(start).strftime('%Y%m%d%H%M%S')}"


def sessionise(
    messages: Iterable[Message],
    mode: str,
    gap_seconds: float,
    stats: StageStats,
    max_open: int = DEFAULT_MAX_OPEN,
) -> Iterator[Session]:
    """Cut each conversation into sessions: ``mode="gap"`` starts a new session after
    ``gap_seconds`` of silence, ``mode="day"`` at each calendar day."""
    open_: OrderedDict[str, Session] = OrderedDict()
    last_time: dict[str, float] = {}
    for message in messages:
        stats.count_in += 1
        key = message.conversation
        session = open_.get(key)
        if session is not None:
            previous = last_time[key]
            if mode == "day":
                new = (
                    datetime.fromtimestamp(previous).date()
                    != datetime.fromtimestamp(message.time).date()
                )
            else:
                new = message.time - previous > gap_seconds
            if new:
                del open_[key]
                stats.count_out += 1
                yield session
                session = None
        if session is None:
            session = Session(_session_id(key, message.time), key)
            open_[key] = session
            if len(open_) > max_open:
                old_key, oldest = open_.popitem(last=False)
                del last_time[old_key]
                stats.count_out += 1
                yield oldest
        session.add(message)
        last_time[key] = message.time
        open_.move_to_end(key)
    for session in open_.values():
        stats.count_out += 1
        yield session


@dataclass(frozen=True)
class SampleOptions:
    """How samples are built: token budget (system + context + reply), the most context
    messages, the shortest reply kept, and an optional system prompt."""

    max_tokens: int = 1024
    max_context_messages: int = 12
    min_reply_chars: int = 2
    system_prompt: str = ""


def sample_id(*parts: str) -> str:
    """A short stable id for a sample."""
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=8).hexdigest()


def build_samples(
    sessions: Iterable[Session], options: SampleOptions, stats: StageStats
) -> Iterator[Sample]:
    """One sample per assistant turn: the reply plus the preceding turns, walked back until the
    token budget is full; the context always starts with a user turn."""
    system_tokens = estimate_tokens(options.system_prompt)
    for session in sessions:
        turns = session.turns
        targets = [i for i, m in enumerate(turns) if m.role == "assistant"]
        stats.count_in += len(targets)
        for position, index in enumerate(targets):
            reply = turns[index].text
            if len(reply) < options.min_reply_chars:
                stats.drop("回复过短")
                continue
            used = system_tokens + estimate_tokens(reply)
            if used > options.max_tokens:
                stats.drop("回复超出长度预算")
                continue
            start = index
            while start > 0 and index - start < options.max_context_messages:
                cost = estimate_tokens(turns[start - 1].text)
                if used + cost > options.max_tokens:
                    break
                used += cost
                start -= 1
            while start < index and turns[start].role != "user":
                start += 1
            if start == index:
                stats.drop(
                    "没有前文用户消息"
                    if index == 0 or turns[index - 1].role != "user"
                    else "前文超出长度预算"
                )
                continue
            messages = [{"role": m.role, "content": m.text} for m in turns[start : index + 1]]
            stats.count_out += 1
            yield Sample(
                id=sample_id(session.id, str(index)),
                kind="chat",
                group=session.conversation,
                messages=messages,
                system=options.system_prompt,
                position=position,
                turns=len(targets),
            )
