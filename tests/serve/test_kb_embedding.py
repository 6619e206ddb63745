"""Uploads through the web API are searchable by BM25 at once and embedded in the background:
the upload does not wait for the vectors, the status shows the progress, a crash mid-way
loses nothing, and once the vectors are there the hybrid search uses them."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.serve.conftest import (
    DOC,
    DOC_NAME,
    QUESTION,
    WAIT_S,
    GatedEmbedder,
    Keys,
    gated_app,
    make_keys,
)

from finassist.config import Settings
from finassist.kb import vectors
from finassist.serve import ServerOptions, create_app

H = Keys.header


def upload(client: TestClient, keys: Keys) -> dict[str, Any]:
    response = client.post(
        "/api/kb/documents",
        headers=H(keys.admin),
        files={"file": (DOC_NAME, DOC.encode("utf-8"), "text/markdown")},
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def titles(client: TestClient, keys: Keys, q: str) -> list[str]:
    response = client.get("/api/kb/search", params={"q": q}, headers=H(keys.m1))
    assert response.status_code == 200, response.text
    return [p["title"] for p in response.json()["data"]]


def worker(app: FastAPI) -> Any:
    return app.state.server.kb_service().worker


def test_an_upload_is_searchable_at_once_and_embedded_in_the_background(
    home: Path, gated: dict[str, GatedEmbedder]
) -> None:
    app = gated_app(home)
    keys = make_keys(app.state.server.db)
    model = gated["a"]
    with TestClient(app) as client:
        body = upload(client, keys)
        # The upload answered while the model is still held at the gate: no vector yet.
        assert not model.gate.is_set()
        doc = body["document"]
        assert doc["title"] == "冷链仓单质押业务指引"
        assert doc["n_chunks"] >= 10 and doc["embedded"] == 0
        assert body["embedding"]["pending"] == doc["n_chunks"]
        # BM25 finds it at once; the synonym cannot, as nothing is embedded to match it.
        assert titles(client, keys, "冷链仓储监管")[0] == doc["title"]
        assert doc["title"] not in titles(client, keys, QUESTION)
        assert model.reached.wait(WAIT_S)
        status = client.get("/api/kb/status", headers=H(keys.m1)).json()
        assert status["embedding"]["state"] == "embedding"
        assert status["chunks"] == doc["n_chunks"] and status["embedded"] == 0
        assert status["embedder"] == "gated:a"

        model.gate.set()
        assert worker(app).wait_idle(WAIT_S)
        status = client.get("/api/kb/status", headers=H(keys.m1)).json()
        assert status["embedded"] == status["chunks"] == doc["n_chunks"]
        assert status["embedding"]["state"] == "idle" and status["embedding"]["pending"] == 0
        listed = client.get("/api/kb/documents", headers=H(keys.m1)).json()["data"]
        assert [(d["embedded"], d["n_chunks"]) for d in listed] == [(doc["n_chunks"],) * 2]
        # Now the vectors are searched: the question's synonym finds the document.
        assert titles(client, keys, QUESTION)[0] == doc["title"]


def test_a_crash_mid_embedding_loses_nothing_and_a_restart_resumes(
    home: Path, gated: dict[str, GatedEmbedder], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vectors, "COMMIT_EVERY", 4)  # commit every 4 chunks
    monkeypatch.setattr(threading, "excepthook", lambda _args: None)  # the crash is expected
    first = gated_app(home)
    keys = make_keys(first.state.server.db)
    model = gated["a"]
    model.gate.set()
    model.crash_after = 6  # dies inside the second batch: 4 vectors are committed
    with TestClient(first) as client:
        doc = upload(client, keys)["document"]
        worker(first)._thread.join(WAIT_S)  # the thread died with the "process"
        assert not worker(first)._thread.is_alive()
        listed = client.get("/api/kb/documents", headers=H(keys.m1)).json()["data"]
        assert listed[0]["embedded"] == 4
        assert titles(client, keys, "冷链仓储监管")[0] == doc["title"]  # BM25 still serves

    second = gated_app(home)  # the restart: same home, same database, a healthy model
    gated["a"].gate.set()
    with TestClient(second) as client:
        assert worker(second).wait_idle(WAIT_S)  # started by the app, not by an upload
        status = client.get("/api/kb/status", headers=H(keys.m1)).json()
        assert status["embedded"] == status["chunks"] == doc["n_chunks"]
        assert gated["a"].passages == doc["n_chunks"] - 4  # only what was missing
        assert titles(client, keys, QUESTION)[0] == doc["title"]


def test_without_an_embedder_the_status_says_bm25_only(home: Path) -> None:
    settings = Settings(home=home, kb={"hybrid": False})
    app = create_app(settings, options=ServerOptions(rate_per_minute=0))
    keys = make_keys(app.state.server.db)
    with TestClient(app) as client:
        doc = upload(client, keys)["document"]
        assert doc["embedded"] is None
        status = client.get("/api/kb/status", headers=H(keys.m1)).json()
        assert status["embedder"] is None and status["mode"] == "bm25"
        assert status["embedding"]["state"] == "off" and status["embedding"]["pending"] == 0
        assert titles(client, keys, "冷链仓储监管")[0] == doc["title"]
