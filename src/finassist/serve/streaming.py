"""A model-answered ``finassist`` turn streamed as it is written (server-sent events).

The turn runs in a worker thread under :func:`finassist.assistant.release.streaming`: the model
turn releases its answer sentence by sentence, each once the guard accepted it, and every
released piece goes to the client as a ``chat.completion.chunk`` at once. The response starts
when the first piece (or the whole turn) is there, so an error before any text (a bad session,
a refused scope) is still a proper HTTP error. When the turn ends, the rest of the stored text
(an offline answer, the source list) follows, then the final chunk with the finish reason and
the ``finassist`` extra, the usage if asked, and ``[DONE]``. The text streamed is the text
stored.

A turn asked again after a concurrent write in another worker (``serve/chat.py``) may store a
different answer than the one already streamed; the stream then ends with an error event that
says so, instead of a text that is not the stored one.

Waiting for the model holds no thread of the server's pool (anyio's, 40 threads, shared by every
``def`` route and dependency): the route returns a :class:`LiveStreamResponse` at once, and the
event loop awaits the turn's events on an asyncio queue. Only the turn's own thread waits for
the model; before, every open stream also held a pool thread, so 40 slow model streams stalled
every other request, health checks included.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi.responses import StreamingResponse
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from finassist.assistant.release import Listener, streaming
from finassist.serve.chat import EXTRA_FIELD, completion_id
from finassist.serve.errors import error_body, error_of, error_response_of

RETRIED = (
    "本轮因另一请求同时写入该会话而重新作答，保存的回答与已发送的内容不同；"
    "请以会话记录（GET /api/sessions/{id}/turns）为准。"
)


@dataclass
class Opening:
    """What the stream starts with: the session, the text released so far, the whole
    completion if the turn already ended."""

    session_id: str | None
    pieces: list[str] = field(default_factory=list)
    body: dict[str, Any] | None = None


class TurnStream:
    """``ask()`` in a thread of its own; its released text, restarts and end come on a queue the
    event loop awaits.

    The thread starts on the first :meth:`opening`, which must be awaited in the loop that reads
    the events. ``ask`` answers, stores and shapes the whole completion (the stored text plus
    what the request asked to append) and does its own bookkeeping, so a client that goes away
    mid-stream changes nothing: the turn still ends and is stored."""

    def __init__(self, ask: Callable[[], dict[str, Any]]) -> None:
        self._ask = ask
        self._events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._thread: threading.Thread | None = None

    def _start(self) -> None:
        loop = asyncio.get_running_loop()

        def put(kind: str, value: Any) -> None:
            # A closed loop (the server shutting down) has nobody left to listen.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._events.put_nowait, (kind, value))

        listener = Listener(
            on_text=lambda text: put("text", text),
            on_start=lambda session_id: put("start", session_id),
        )

        def work() -> None:
            try:
                with streaming(listener):
                    turn = self._ask()
            except BaseException as exc:  # re-raised (or sent as an error event) by the reader
                put("error", exc)
                return
            put("done", turn)

        self._thread = threading.Thread(target=work, name="finassist-turn", daemon=True)
        self._thread.start()

    async def opening(self) -> Opening:
        """Wait for the first released text or the end of the turn; the turn's error if it
        failed before any text."""
        if self._thread is None:
            self._start()
        opening = Opening(None)
        while True:
            kind, value = await self._events.get()
            if kind == "error":
                raise value
            if kind == "start":
                opening.session_id = value
            elif kind == "text":
                opening.pieces.append(value)
                return opening
            else:
                opening.body = value
                opening.session_id = value[EXTRA_FIELD]["session_id"]
                return opening

    async def rest(self) -> AsyncIterator[tuple[str, Any]]:
        """The events after the opening, up to ``("done", body)`` or ``("error", exc)``."""
        while True:
            kind, value = await self._events.get()
            yield kind, value
            if kind in ("done", "error"):
                return


class LiveEvents:
    """The server-sent events of a :class:`TurnStream` after its :class:`Opening`."""

    def __init__(
        self, stream: TurnStream, opening: Opening, *, model: str, include_usage: bool
    ) -> None:
        self.stream = stream
        self.opening = opening
        self.model = model
        self.include_usage = include_usage
        self.id = completion_id()
        self.created = int(time.time())

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    async def __aiter__(self) -> AsyncIterator[str]:
        yield _sse(self._chunk({"role": "assistant", "content": ""}))
        sent: list[str] = []
        for piece in self.opening.pieces:
            sent.append(piece)
            yield _sse(self._chunk({"content": piece}))
        body, retried = self.opening.body, False
        if body is None:
            async for kind, value in self.stream.rest():
                if kind == "start":  # the turn is asked again (see above): hold its text back
                    retried = retried or bool(sent)
                elif kind == "text" and not retried:
                    sent.append(value)
                    yield _sse(self._chunk({"content": value}))
                elif kind == "error":
                    yield _sse(error_of(value))
                    return
                elif kind == "done":
                    body = value
        assert body is not None
        content = body["choices"][0]["message"]["content"] or ""
        already = "".join(sent)
        if not content.startswith(already):  # asked again after text went out (see above)
            session_id = body[EXTRA_FIELD]["session_id"]
            yield _sse(error_body(409, RETRIED.replace("{id}", session_id), "turn_retried"))
            return
        if content[len(already) :]:
            yield _sse(self._chunk({"content": content[len(already) :]}))
        final = self._chunk({}, body["choices"][0]["finish_reason"])
        final[EXTRA_FIELD] = body[EXTRA_FIELD]
        yield _sse(final)
        if self.include_usage:
            tail = self._chunk({})
            tail["choices"] = []
            tail["usage"] = body["usage"]
            yield _sse(tail)
        yield "data: [DONE]\n\n"


def _sse(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


class LiveStreamResponse(Response):
    """The answer to a streamed model turn: an HTTP error if the turn fails before its first
    sentence, else server-sent events with the session id in ``X-Session-Id``.

    The route returns it without waiting; the turn starts and is awaited when the server sends
    the response, on the event loop.
    """

    def __init__(
        self, stream: TurnStream, *, model: str, include_usage: bool, session_header: str
    ) -> None:
        super().__init__(media_type="text/event-stream")
        self.stream = stream
        self.model = model
        self.include_usage = include_usage
        self.session_header = session_header

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response: Response
        try:
            opening = await self.stream.opening()
        except Exception as exc:  # answered as the route's error handlers would
            response = error_response_of(exc)
        else:
            session = {self.session_header: opening.session_id} if opening.session_id else {}
            response = StreamingResponse(
                LiveEvents(
                    self.stream, opening, model=self.model, include_usage=self.include_usage
                ),
                media_type="text/event-stream",
                headers={**session, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        await response(scope, receive, send)
