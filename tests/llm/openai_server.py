"""A small OpenAI-wire-format server on loopback for the backend tests.

Each request pops the next scripted behaviour from ``server.script``: ``("json", body)``,
``("sse", [chunk, ...])`` (raw ``data:`` payloads; a ``threading.Event`` among the chunks pauses
the stream until it is set, and a pause that times out is counted in ``server.stalled``),
``("status", code, body)`` or ``("sleep", seconds)``. Requests are recorded in
``server.requests``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PAUSE_TIMEOUT_S = 30.0  # only a broken (non-streaming) server makes a test wait this long


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        self.server.requests.append(
            {
                "path": self.path,
                "body": body,
                "headers": {k.lower(): v for k, v in self.headers.items()},
            }
        )
        kind, *args = self.server.script.popleft()
        if kind == "sleep":
            time.sleep(args[0])
            kind, args = "json", [completion("太慢了")]
        if kind == "status":
            code, payload = args
            self._send(code, json.dumps(payload).encode(), "application/json")
        elif kind == "json":
            self._send(200, json.dumps(args[0], ensure_ascii=False).encode(), "application/json")
        elif kind == "sse":
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.end_headers()
            for chunk in args[0]:
                if isinstance(chunk, threading.Event):
                    if not chunk.wait(PAUSE_TIMEOUT_S):
                        self.server.stalled += 1
                    continue
                data = chunk if isinstance(chunk, str) else json.dumps(chunk, ensure_ascii=False)
                self.wfile.write(f"data: {data}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
            self.close_connection = True

    def _send(self, code: int, payload: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def completion(content: str = "", tool_calls: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content or None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "test-model",
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if tool_calls else "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "test-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


@contextmanager
def openai_server() -> Iterator[Any]:
    """A running server; ``server.url`` is its ``/v1`` base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.script = deque()
    server.requests = []
    server.stalled = 0
    server.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
