"""Scope over every endpoint: a manager reads only their own clients and conversations, an
admin's answers never land in a manager's conversation, and a client moved from one manager to
another follows the move at once (no restart).

Sample data: M001 looks after E0006 宁波远航汽车零部件有限公司 (远航汽配); M002 after E0002
蜀山建工集团有限公司. Every check below is what a user would see through the HTTP API.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update
from tests.serve.conftest import Keys
from tests.serve.test_api import assert_openai_error, chat

from finassist.store.schema import manager_clients

H = Keys.header
M1_CLIENT = ("E0006", "宁波远航汽车零部件有限公司", "远航汽配")
M2_CLIENT = ("E0002", "蜀山建工集团有限公司", "蜀山建工")


def _text(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    return str(response.json()["choices"][0]["message"]["content"])


def _everything(response) -> str:  # type: ignore[no-untyped-def]
    """The whole response as a user could read it (text, evidence, headers)."""
    return response.text + json.dumps(dict(response.headers), ensure_ascii=False)


def _reveals(text: str, client: tuple[str, str, str]) -> bool:
    enterprise_id, full_name, _short = client
    return enterprise_id in text or full_name in text


def _reachable_by(client: TestClient, key: str, enterprise: tuple[str, str, str]) -> bool:
    """Whether ``key`` gets the enterprise's figures, both in chat and as a report."""
    answer = chat(client, key, f"{enterprise[2]}近12个月的现金流怎么样？")
    report = client.get(f"/api/enterprises/{enterprise[0]}/report", headers=H(key))
    assert report.status_code in (200, 404), report.text
    in_chat = _reveals(_everything(answer), enterprise) and bool(
        answer.json()["finassist"]["evidence"]
    )
    assert in_chat == (report.status_code == 200), (answer.text, report.text)
    return in_chat


def test_another_managers_client_is_unreachable_through_every_endpoint(
    client: TestClient, keys: Keys
) -> None:
    assert _reachable_by(client, keys.m2, M2_CLIENT)
    assert not _reachable_by(client, keys.m1, M2_CLIENT)
    unknown = chat(client, keys.m1, "星河虚构科技近12个月的现金流怎么样？")
    theirs = chat(client, keys.m1, f"{M2_CLIENT[2]}近12个月的现金流怎么样？")
    # The answer about another's client is the answer about a company that does not exist.
    assert _text(theirs).replace(M2_CLIENT[2], "X") == _text(unknown).replace("星河虚构科技", "X")
    assert not _reveals(_everything(theirs), M2_CLIENT)
    missing = client.get("/api/enterprises/E9999/report", headers=H(keys.m1))
    denied = client.get(f"/api/enterprises/{M2_CLIENT[0]}/report", headers=H(keys.m1))
    assert assert_openai_error(denied, 404, "not_found")["message"].replace(
        M2_CLIENT[0], "X"
    ) == assert_openai_error(missing, 404, "not_found")["message"].replace("E9999", "X")

    # M002's conversation: invisible to M001 through sessions, turns, ratings, delete and /v1.
    session = chat(client, keys.m2, f"{M2_CLIENT[2]}的风险").headers["X-Session-Id"]
    assert session not in {
        s["id"] for s in client.get("/api/sessions", headers=H(keys.m1)).json()["data"]
    }
    for response in (
        client.get(f"/api/sessions/{session}/turns", headers=H(keys.m1)),
        client.put(
            f"/api/sessions/{session}/turns/1/rating", headers=H(keys.m1), json={"score": 1}
        ),
        client.delete(f"/api/sessions/{session}", headers=H(keys.m1)),
        chat(client, keys.m1, "他们还有哪些应收发票没付？", session),
    ):
        assert_openai_error(response, 404, "not_found")
        assert not _reveals(_everything(response), M2_CLIENT)
    # Resending M002's conversation as history does not attach M001 to it either.
    history = client.get(f"/api/sessions/{session}/turns", headers=H(keys.m2)).json()["data"]
    resent = client.post(
        "/v1/chat/completions",
        headers=H(keys.m1),
        json={
            "model": "finassist",
            "messages": [
                {"role": "user", "content": history[0]["user_text"]},
                {"role": "assistant", "content": history[0]["reply_text"]},
                {"role": "user", "content": "他们还有哪些应收发票没付？"},
            ],
        },
    )
    assert resent.headers.get("X-Session-Id") != session
    assert resent.status_code == 200 and not _reveals(_everything(resent), M2_CLIENT)
    assert len(client.get(f"/api/sessions/{session}/turns", headers=H(keys.m2)).json()["data"]) == 1


def test_an_admin_cannot_write_admin_scope_answers_into_a_managers_session(
    client: TestClient, keys: Keys
) -> None:
    session = chat(client, keys.m2, f"{M2_CLIENT[2]}的风险").headers["X-Session-Id"]
    # The admin may read M002's conversation ...
    read = client.get(f"/api/sessions/{session}/turns", headers=H(keys.admin))
    assert read.status_code == 200 and len(read.json()["data"]) == 1
    # ... but asking in it would store figures of M001's client in M002's history: refused.
    refused = chat(client, keys.admin, f"{M1_CLIENT[2]}还有哪些应收发票没付？", session)
    assert "管理员" in assert_openai_error(refused, 403, "access_denied")["message"]
    # Nor may the admin rate M002's answer: the rating would be stored in M002's session.
    rating = f"/api/sessions/{session}/turns/1/rating"
    refused_rating = client.put(rating, headers=H(keys.admin), json={"score": 1, "comment": "差"})
    assert "管理员" in assert_openai_error(refused_rating, 403, "access_denied")["message"]
    turns = client.get(f"/api/sessions/{session}/turns", headers=H(keys.m2)).json()["data"]
    assert len(turns) == 1 and not _reveals(json.dumps(turns, ensure_ascii=False), M1_CLIENT)
    assert turns[0]["rating"] is None
    # M002 rates it; the admin reads that rating and still cannot overwrite it.
    assert client.put(rating, headers=H(keys.m2), json={"score": 5}).status_code == 200
    assert client.put(rating, headers=H(keys.admin), json={"score": 1}).status_code == 403
    read = client.get(f"/api/sessions/{session}/turns", headers=H(keys.admin)).json()["data"]
    assert read[0]["rating"]["score"] == 5 and read[0]["rating"]["manager_id"] == "M002"
    # Without a session id the admin gets a conversation of their own, invisible to M002.
    own = chat(client, keys.admin, f"{M1_CLIENT[2]}还有哪些应收发票没付？")
    assert own.status_code == 200 and own.headers["X-Session-Id"] != session
    assert _reveals(_everything(own), M1_CLIENT)
    assert own.headers["X-Session-Id"] not in {
        s["id"] for s in client.get("/api/sessions", headers=H(keys.m2)).json()["data"]
    }


def _move(app: Any, enterprise_id: str, to: str) -> None:
    with app.state.server.db.write() as conn:
        conn.execute(
            update(manager_clients)
            .where(manager_clients.c.enterprise_id == enterprise_id)
            .values(manager_id=to)
        )


def test_a_reassigned_client_leaves_its_former_manager_at_once(
    client: TestClient, keys: Keys, app: Any
) -> None:
    session = chat(client, keys.m1, f"{M1_CLIENT[2]}的风险").headers["X-Session-Id"]
    assert _reachable_by(client, keys.m1, M1_CLIENT)
    assert not _reachable_by(client, keys.m2, M1_CLIENT)
    _move(app, M1_CLIENT[0], "M002")

    assert not _reachable_by(client, keys.m1, M1_CLIENT)
    # A follow-up in M001's earlier conversation no longer resolves to that client: no figures,
    # no id, no name; M001 is told the company is out of reach (once) and asked which one.
    for question in ("他们还有哪些应收发票没付？", "这家企业的资质怎么样"):
        follow_up = chat(client, keys.m1, question, session)
        text = _text(follow_up)
        assert "哪家企业" in text, text
        assert ("不在您的客户范围" in text) == question.startswith("他们"), text
        assert not follow_up.json()["finassist"]["evidence"]
        assert follow_up.json()["finassist"]["enterprise_id"] is None
        assert not _reveals(_everything(follow_up), M1_CLIENT) and M1_CLIENT[2] not in text
    # Naming a client M001 still has, in the same conversation, answers as before.
    own = chat(client, keys.m1, "华东汽车近12个月的现金流怎么样？", session)
    assert "华东汽车" in _text(own) and own.json()["finassist"]["evidence"]
    report = client.get(f"/api/enterprises/{M1_CLIENT[0]}/report", headers=H(keys.m2))
    assert report.status_code == 200 and M1_CLIENT[1] in report.text


def test_a_reassigned_client_is_reachable_in_chat_by_its_new_manager_without_a_restart(
    client: TestClient, keys: Keys, app: Any
) -> None:
    assert not _reachable_by(client, keys.m2, M1_CLIENT)  # M002's directory is built now
    _move(app, M1_CLIENT[0], "M002")
    assert _reachable_by(client, keys.m2, M1_CLIENT)


def test_kb_endpoints_show_no_server_paths(client: TestClient, keys: Keys, home: Any) -> None:
    if client.get("/api/me", headers=H(keys.m1)).json()["kb"] is False:
        return
    upload = client.post(
        "/api/kb/documents",
        headers=H(keys.admin),
        files={"file": ("制度.md", "# 保理办法\n\n第一条 保理融资期限不超过一年。\n".encode())},
    )
    assert upload.status_code == 201, upload.text
    listed = client.get("/api/kb/documents", headers=H(keys.m1))
    found = client.get("/api/kb/search", params={"q": "保理融资期限"}, headers=H(keys.m1))
    for response in (upload, listed, found):
        assert response.status_code in (200, 201)
        assert str(home) not in response.text and "kb_uploads" not in response.text
    assert "制度.md" in {d.get("source") for d in listed.json()["data"]}
