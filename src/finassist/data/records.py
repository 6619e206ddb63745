"""The records that flow through the pipeline, and the bookkeeping every stage shares.

A stage is a pure function ``Iterator[Record] -> Iterator[Record]``; what it drops it counts in a
:class:`StageStats` under a reason, so that the report can say how many records left each stage
and why. Nothing is dropped without a reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["user", "assistant"]
Kind = Literal["chat", "knowledge", "structured"]


@dataclass(slots=True)
class Message:
    """One chat message as read from an export.

    ``conversation`` is who the chat is with (WeChat ``talker``, or the group ``room_name``);
    ``role`` is ``assistant`` for our service staff (WeChat ``is_sender=1``) and ``user`` for the
    relationship manager; ``time`` is seconds since the epoch; ``line`` the line in the source
    file where the row starts (for error reports).
    """

    conversation: str
    role: Role
    text: str
    time: float
    type: str = "文本"
    forwarded: bool = False
    msg_id: str = ""
    line: int = 0
    source: str = ""

    def with_text(self, text: str, time: float | None = None) -> Message:
        """A copy with new text (and time); cheaper than ``dataclasses.replace``."""
        return Message(
            self.conversation,
            self.role,
            text,
            self.time if time is None else time,
            self.type,
            self.forwarded,
            self.msg_id,
            self.line,
            self.source,
        )


@dataclass(slots=True)
class Sample:
    """One training example: ChatML ``messages`` ending with the target assistant reply.

    ``group`` is the conversation the sample comes from: train/val/test are split by group so
    that no conversation leaks across splits. ``position`` and ``turns`` place the target reply
    in its session (for turn-position weighting). ``meta`` carries labels, quality scores and
    the augmentation mark.
    """

    id: str
    kind: Kind
    group: str
    messages: list[dict[str, str]]
    system: str = ""
    position: int = 0
    turns: int = 1
    weight: float = 1.0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def reply(self) -> str:
        """The target: the last (assistant) message."""
        return self.messages[-1]["content"]

    @property
    def prompt(self) -> str:
        """The last user message before the target."""
        for message in reversed(self.messages[:-1]):
            if message["role"] == "user":
                return message["content"]
        return ""

    def to_json(self) -> dict[str, Any]:
        """A plain dict (for the spool file and the exporters)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "group": self.group,
            "system": self.system,
            "messages": self.messages,
            "position": self.position,
            "turns": self.turns,
            "weight": self.weight,
            "meta": self.meta,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Sample:
        """Inverse of :meth:`to_json`."""
        return cls(
            id=data["id"],
            kind=data["kind"],
            group=data["group"],
            messages=data["messages"],
            system=data.get("system", ""),
            position=data.get("position", 0),
            turns=data.get("turns", 1),
            weight=data.get("weight", 1.0),
            meta=data.get("meta", {}),
        )


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row that could not be read: where it is and what is wrong with it (Chinese)."""

    source: str
    line: int
    reason: str


@dataclass
class StageStats:
    """Counts in and out of one stage, and why records were dropped."""

    name: str
    title: str
    count_in: int = 0
    count_out: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def drop(self, reason: str, n: int = 1) -> None:
        """Count ``n`` records dropped for ``reason``."""
        self.dropped[reason] += n

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "in": self.count_in,
            "out": self.count_out,
            "dropped": dict(self.dropped.most_common()),
            "notes": list(self.notes),
            "seconds": round(self.seconds, 3),
        }
