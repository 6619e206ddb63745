"""Releasing a model's streamed answer sentence by sentence, each only once the guard accepts it.

A model answer streams in as tokens. The reader should see the first sentence long before the
turn ends, but never a figure, date, invoice number or company the evidence does not hold. So
text is released a whole sentence at a time (the guard's own sentence boundaries: 。！？ and line
ends), each sentence checked against the evidence gathered so far; a sentence with an
unsupported claim is held back for good and its claims listed. A ```json block (the
recommendation) is never released as text. What was released is the answer: the turn stores
exactly that text.

Who listens is set with :func:`streaming` around a turn (a context variable, so it reaches the
model turn through the assistant without new parameters, and stays private to the thread that
set it):

>>> got = []
>>> with streaming(Listener(got.append)):                               # doctest: +SKIP
...     assistant.ask("华东汽车近12个月的现金流怎么样？", manager_id="M001")
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

# A sentence is complete once its terminator arrived (the guard splits at the same marks).
_COMPLETE = re.compile(r"[^。！？\n]*[。！？\n]")
_FENCE = "```"
_BLANK_LINES = re.compile(r"\n\s*\n\s*\n[\s]*")
_JSON_BLOCK = re.compile(r"```json\s*\{.*?\}\s*```", re.DOTALL)


@dataclass(frozen=True)
class Listener:
    """Who hears a streamed turn: ``on_text`` gets each released piece; ``on_start`` the session
    id when a model turn starts (again if the turn is asked again, see ``serve/chat.py``)."""

    on_text: Callable[[str], None]
    on_start: Callable[[str], None] = lambda _session_id: None


_LISTENER: ContextVar[Listener | None] = ContextVar("finassist_stream_listener", default=None)


@contextmanager
def streaming(listener: Listener) -> Iterator[None]:
    """Inside the block, model turns release their text to ``listener`` as it is checked."""
    token = _LISTENER.set(listener)
    try:
        yield
    finally:
        _LISTENER.reset(token)


def listener() -> Listener | None:
    """The listener of the current turn, or None (the answer is returned whole)."""
    return _LISTENER.get()


@dataclass
class SentenceRelease:
    """Judges streamed text sentence by sentence and passes the accepted ones on.

    ``judge(sentence)`` returns the claims of the sentence the evidence does not support (empty:
    release it); ``leaks(text)`` says whether the released text would repeat the system prompt
    (then nothing more is released and :attr:`refused` is set). Whitespace between sentences is
    held until the next sentence is released, so the released text never ends in a blank (and
    never has more than one empty line in a row).
    """

    emit: Callable[[str], None]
    judge: Callable[[str], list[str]]
    leaks: Callable[[str], bool]
    raw: str = ""
    unsupported: list[str] = field(default_factory=list)
    refused: bool = False
    _pieces: list[str] = field(default_factory=list)
    _judged: int = 0  # raw[:_judged] has been released or held back
    _gap: str = ""

    @property
    def text(self) -> str:
        """Everything released so far."""
        return "".join(self._pieces)

    def feed(self, text: str) -> None:
        """More streamed text: release the complete sentences before any ```json block."""
        self.raw += text
        pending = self.raw[self._judged :]
        fence = pending.find(_FENCE)
        if fence >= 0:
            pending = pending[:fence]
        for match in _COMPLETE.finditer(pending):
            self._sentence(match.group(0))
            self._judged += len(match.group(0))

    def finish(self) -> None:
        """The stream ended: judge the rest, without the ```json block."""
        rest = _JSON_BLOCK.sub("", self.raw[self._judged :])
        self._judged = len(self.raw)
        for sentence in re.findall(r"[^。！？\n]*[。！？\n]?", rest):
            if sentence:
                self._sentence(sentence)

    def append(self, text: str) -> None:
        """Release ``text`` unjudged (a note the assistant itself wrote), after a line break."""
        text = text.strip()
        if text:
            self._send(("\n" if self._pieces else "") + text)

    def _sentence(self, sentence: str) -> None:
        if self.refused:
            return
        body = sentence.rstrip()
        if not body.strip():
            self._gap += sentence
            return
        bad = self.judge(sentence)
        if bad:
            self.unsupported.extend(c for c in bad if c not in self.unsupported)
            self._gap += sentence[len(body) :]
            return
        gap = _BLANK_LINES.sub("\n\n", self._gap)  # a dropped sentence leaves no hole
        piece = (gap + body) if self._pieces else body.lstrip()
        if self.leaks(self.text + piece):
            self.refused = True
            return
        self._gap = sentence[len(body) :]
        self._send(piece)

    def _send(self, piece: str) -> None:
        self._pieces.append(piece)
        self.emit(piece)
