"""REST under /api: sessions, ratings, enterprise report and the knowledge-base routes."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from tests.serve.conftest import Keys, make_keys
from tests.serve.test_api import assert_openai_error, chat

from finassist.config import Settings
from finassist.errors import InvalidInput, NotFound
from finassist.runtime import build_runtime
from finassist.serve import ServerOptions, create_app

H = Keys.header


def test_sessions_list_turns_and_delete(client: TestClient, keys: Keys) -> None:
    first = chat(client, keys.m1, "远航汽配的风险")
    session = first.headers["X-Session-Id"]
    chat(client, keys.m1, "他们还有哪些应收发票没付？", session)
    listed = client.get("/api/sessions", headers=H(keys.m1)).json()["data"]
    assert listed[0]["id"] == session and listed[0]["title"] == "远航汽配的风险"
    theirs = client.get("/api/sessions", headers=H(keys.m2)).json()["data"]
    assert session not in {s["id"] for s in theirs}

    turns = client.get(f"/api/sessions/{session}/turns", headers=H(keys.m1)).json()["data"]
    assert [t["seq"] for t in turns] == [1, 2]
    assert turns[1]["intent"] == "invoices" and turns[1]["evidence"]
    assert_openai_error(
        client.get(f"/api/sessions/{session}/turns", headers=H(keys.m2)), 404, "not_found"
    )

    assert client.delete(f"/api/sessions/{session}", headers=H(keys.m2)).status_code == 404
    assert client.delete(f"/api/sessions/{session}", headers=H(keys.m1)).status_code == 204
    assert client.get(f"/api/sessions/{session}/turns", headers=H(keys.m1)).status_code == 404


def test_ratings_are_stored_with_the_turn(client: TestClient, keys: Keys) -> None:
    session = chat(client, keys.m1, "远航汽配的风险").headers["X-Session-Id"]
    url = f"/api/sessions/{session}/turns/1/rating"
    saved = client.put(url, headers=H(keys.m1), json={"score": 4, "comment": "清楚"})
    assert saved.status_code == 200 and saved.json()["score"] == 4
    client.put(url, headers=H(keys.m1), json={"score": 5, "comment": "很准确"})
    turn = client.get(f"/api/sessions/{session}/turns", headers=H(keys.m1)).json()["data"][0]
    assert turn["rating"]["score"] == 5 and turn["rating"]["comment"] == "很准确"

    assert_openai_error(
        client.put(url, headers=H(keys.m1), json={"score": 6}), 400, "invalid_request"
    )
    assert_openai_error(client.put(url, headers=H(keys.m2), json={"score": 1}), 404, "not_found")
    missing = client.put(
        f"/api/sessions/{session}/turns/9/rating", headers=H(keys.m1), json={"score": 3}
    )
    assert "第 9 轮" in assert_openai_error(missing, 404, "not_found")["message"]
    # Deleting the session takes its ratings with it.
    assert client.delete(f"/api/sessions/{session}", headers=H(keys.m1)).status_code == 204


def test_enterprise_report_with_evidence(client: TestClient, keys: Keys) -> None:
    body = client.get("/api/enterprises/E0006/report", headers=H(keys.m1)).json()
    assert body["enterprise_name"] == "宁波远航汽车零部件有限公司"
    assert "现金流健康度报告" in body["text"] and "[1]" in body["text"] and body["evidence"]
    assert client.get("/api/enterprises/E0006/report", headers=H(keys.admin)).status_code == 200
    assert_openai_error(client.get("/api/enterprises/E0006/report"), 401, "missing_api_key")


class FakeKb:
    """A knowledge base in memory that registers like the real one."""

    def __init__(self) -> None:
        self.engine = None
        self.docs: dict[str, dict[str, Any]] = {}

    def ingest(self, data: bytes, filename: str) -> dict[str, Any]:
        if not filename.endswith(".md"):
            raise InvalidInput(f"不支持的文件类型 {filename}。")
        doc = {"id": f"d{len(self.docs) + 1}", "title": filename, "text": data.decode("utf-8")}
        self.docs[doc["id"]] = doc
        return {"document": {"id": doc["id"], "title": filename}}

    def documents(self) -> list[dict[str, Any]]:
        return [{"id": d["id"], "title": d["title"]} for d in self.docs.values()]

    def delete(self, document_id: str) -> None:
        if self.docs.pop(document_id, None) is None:
            raise NotFound(f"知识库中没有编号为 {document_id} 的文档。")

    def search(self, query: str, limit: int) -> list[dict[str, Any]]:
        return [
            {"text": d["text"], "document": d["title"], "locator": "第1条"}
            for d in self.docs.values()
            if query in d["text"]
        ][:limit]

    def status(self) -> dict[str, Any]:
        return {"documents": len(self.docs), "chunks": len(self.docs), "embedded": None}

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_kb_routes_through_the_protocol(settings: Settings) -> None:
    app = create_app(settings, options=ServerOptions(rate_per_minute=0), kb=FakeKb())
    keys = make_keys(app.state.server.db)
    with TestClient(app, raise_server_exceptions=False) as client:
        files = {"file": ("保理手册.md", "保理是应收账款转让。".encode(), "text/markdown")}
        assert_openai_error(
            client.post("/api/kb/documents", headers=H(keys.m1), files=files), 403, "admin_required"
        )
        added = client.post("/api/kb/documents", headers=H(keys.admin), files=files)
        assert added.status_code == 201 and added.json()["document"]["title"] == "保理手册.md"
        bad = {"file": ("x.exe", b"MZ", "application/octet-stream")}
        assert (
            "不支持"
            in assert_openai_error(
                client.post("/api/kb/documents", headers=H(keys.admin), files=bad),
                400,
                "invalid_input",
            )["message"]
        )
        empty = {"file": ("空.md", b"", "text/markdown")}
        assert_openai_error(
            client.post("/api/kb/documents", headers=H(keys.admin), files=empty), 400, "empty_file"
        )
        assert [
            d["title"] for d in client.get("/api/kb/documents", headers=H(keys.m1)).json()["data"]
        ] == ["保理手册.md"]
        hits = client.get("/api/kb/search", params={"q": "保理"}, headers=H(keys.m1)).json()["data"]
        assert hits[0]["document"] == "保理手册.md" and hits[0]["locator"] == "第1条"
        assert client.delete("/api/kb/documents/d1", headers=H(keys.admin)).status_code == 204
        assert_openai_error(
            client.delete("/api/kb/documents/d1", headers=H(keys.admin)), 404, "not_found"
        )


def test_kb_routes_without_a_knowledge_base_are_501(settings: Settings) -> None:
    runtime = build_runtime(settings, kb=None)  # the seam: no knowledge base at all
    app = create_app(settings, options=ServerOptions(rate_per_minute=0), runtime=runtime)
    keys = make_keys(app.state.server.db)
    with TestClient(app) as client:
        error = assert_openai_error(
            client.get("/api/kb/documents", headers=H(keys.m1)), 501, "kb_unavailable"
        )
        assert "知识库" in error["message"]
        assert client.get("/api/health").json()["kb"] is False


def test_a_managers_screen_over_http_names_only_his_clients(client: TestClient, keys: Keys) -> None:
    from sqlalchemy import text

    db = client.app.state.server.db  # type: ignore[attr-defined]
    with db.read() as conn:
        others = {
            r[0]
            for r in conn.execute(
                text(
                    "SELECT name FROM enterprises WHERE id NOT IN "
                    "(SELECT enterprise_id FROM manager_clients WHERE manager_id = 'M002')"
                )
            )
        }
    response = chat(client, keys.m2, "我名下有哪些客户？")
    assert response.status_code == 200, response.text
    answer = response.json()["choices"][0]["message"]["content"]
    assert "统计口径" in answer and "| 1 |" in answer
    assert not [name for name in others if name in answer]
