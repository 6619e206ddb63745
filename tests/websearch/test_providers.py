"""Each provider against a real HTTP server on loopback that speaks its response format."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import pytest

from finassist.config import Settings, WebSearchSettings
from finassist.errors import ConfigError
from finassist.websearch import WebSearchError, build_provider

SEARXNG = {
    "query": "供应链金融",
    "results": [
        {
            "title": "供应链金融政策解读",
            "url": "https://news.example.cn/a",
            "content": "多部门发文支持供应链金融。",
            "publishedDate": "2026-05-01",
        },
        {"title": "无链接的结果", "content": "应被跳过"},
    ],
}
BING = {
    "webPages": {
        "value": [
            {
                "name": "保理业务指引",
                "url": "https://bing.example.cn/b",
                "snippet": "保理业务的监管要求。",
                "dateLastCrawled": "2026-04-01T00:00:00Z",
            }
        ]
    }
}
TAVILY = {
    "results": [
        {
            "title": "票据新规",
            "url": "https://tavily.example.cn/c",
            "content": "商业汇票期限缩短至6个月。",
            "score": 0.9,
        }
    ]
}


class _Handler(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def _send(self, status: int, body: Any) -> None:
        data = (
            json.dumps(body, ensure_ascii=False).encode() if not isinstance(body, bytes) else body
        )
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        self.seen.append({"path": url.path, "query": query, "headers": dict(self.headers)})
        if url.path == "/search" and query.get("format") == ["json"]:
            self._send(200, SEARXNG)
        elif url.path == "/v7.0/search":
            if self.headers.get("Ocp-Apim-Subscription-Key") != "bing-secret":
                self._send(401, {"error": "denied"})
            else:
                self._send(200, BING)
        elif url.path == "/broken/search":
            self._send(200, b"<html>not json</html>")
        else:
            self._send(500, {"error": "boom"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append({"path": self.path, "body": body, "headers": dict(self.headers)})
        if self.headers.get("Authorization") != "Bearer tavily-secret":
            self._send(401, {"error": "denied"})
        else:
            self._send(200, TAVILY)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _provider(name: str, url: str, key_env: str | None = None, **env: str) -> Any:
    return build_provider(WebSearchSettings(provider=name, url=url, key_env=key_env), env)


def test_off_by_default() -> None:
    config = WebSearchSettings()
    assert not config.enabled
    assert build_provider(config, {}) is None


def test_searxng_json_api(server: str) -> None:
    results = _provider("searxng", server).search("供应链金融", limit=5)
    assert [(r.title, r.url) for r in results] == [
        ("供应链金融政策解读", "https://news.example.cn/a")
    ]
    assert results[0].snippet == "多部门发文支持供应链金融。" and results[0].provider == "searxng"
    assert _Handler.seen[-1]["query"]["q"] == ["供应链金融"]


def test_bing_sends_the_key_named_by_the_env_var(server: str) -> None:
    provider = _provider("bing", server, key_env="MY_BING", MY_BING="bing-secret")
    results = provider.search("保理", limit=3)
    assert results[0].title == "保理业务指引" and results[0].url == "https://bing.example.cn/b"
    assert _Handler.seen[-1]["query"]["count"] == ["3"]
    wrong = _provider("bing", server, BING_SEARCH_KEY="wrong")
    with pytest.raises(WebSearchError, match="API 密钥"):
        wrong.search("保理")


def test_tavily_posts_json_with_bearer_key(server: str) -> None:
    results = _provider("tavily", server, TAVILY_API_KEY="tavily-secret").search("票据")
    assert results[0].url == "https://tavily.example.cn/c"
    assert _Handler.seen[-1]["body"]["query"] == "票据"


def test_failures_are_clear_errors(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="TAVILY_API_KEY"):
        _provider("tavily", server)
    with pytest.raises(ConfigError, match="未知的网络搜索服务"):
        _provider("google", server)
    with pytest.raises(WebSearchError, match="不是 JSON"):
        _provider("searxng", server + "/broken").search("x")
    with pytest.raises(WebSearchError, match="无法连接"):
        _provider("searxng", "http://127.0.0.1:9").search("x")
    monkeypatch.setenv("FINASSIST_WEBSEARCH_TIMEOUT", "soon")  # the flat name of earlier releases
    with pytest.raises(ConfigError, match=r"FINASSIST_WEBSEARCH_TIMEOUT.*应为数字"):
        Settings.load()
