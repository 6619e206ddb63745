"""Registry, named models from settings, routing by role, fallback and the response cache."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from finassist.config import Settings
from finassist.errors import ConfigError
from finassist.llm import backend_kinds, build_router, get_backend
from finassist.llm.cache import ResponseCache, cache_key
from finassist.llm.offline import NO_MODEL_REPLY, OfflineBackend
from finassist.llm.router import FINANCE, GENERAL, Router
from finassist.llm.scripted import ScriptedBackend
from finassist.llm.types import ChatResponse, Message, ModelError, ModelUnavailable, collect
from finassist.store import Database
from finassist.store.schema import llm_cache

MESSAGES = [Message.user("你好")]


def test_every_backend_kind_is_registered() -> None:
    assert backend_kinds() == ["ab", "hf", "offline", "openai", "scripted"]


def test_models_are_read_from_the_toml_file_and_picked_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "finassist.toml"
    config.write_text(
        """
[finassist]
model = "qwen-ft"
model_fallbacks = ["deepseek"]

[finassist.models.qwen-ft]
backend = "openai"
base_url = "http://127.0.0.1:8000/v1"
model = "qwen2.5-7b-sft"
role = "finance"
timeout = 30

[finassist.models.deepseek]
backend = "openai"
base_url = "https://api.deepseek.com/v1"
model = "deepseek-chat"
api_key_env = "FA_TEST_DEEPSEEK_KEY"
role = "general"
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("FINASSIST_CONFIG", str(config))
    monkeypatch.setenv("FA_TEST_DEEPSEEK_KEY", "sk-test")
    settings = Settings.load()
    assert settings.models["qwen-ft"].timeout == 30
    router = build_router(settings)
    assert [b.name for b in router.order(FINANCE)] == ["qwen-ft", "deepseek"]
    assert get_backend("deepseek", settings).model == "deepseek-chat"
    assert build_router(settings, "offline") is None
    with pytest.raises(ConfigError, match="未配置名为 kimi 的模型"):
        build_router(settings, "kimi")


def test_roles_route_finance_and_general_turns() -> None:
    settings = Settings(
        models={
            "general": {"backend": "scripted", "role": "general"},
            "qwen-ft": {"backend": "scripted", "role": "finance"},
        }
    )
    router = build_router(settings)
    assert [b.name for b in router.order(FINANCE)] == ["qwen-ft", "general"]
    assert [b.name for b in router.order(GENERAL)] == ["general", "qwen-ft"]
    assert build_router(Settings()) is None  # no models: the offline engine


def test_fallback_records_each_failure_and_ends_offline() -> None:
    a, b = ScriptedBackend("a"), ScriptedBackend("b")
    a.enqueue(ModelUnavailable("超时"))
    b.enqueue(RuntimeError("boom"))
    routed = Router([a, b]).chat(MESSAGES, offline=OfflineBackend())
    assert routed.response.content == NO_MODEL_REPLY
    assert routed.meta()["fallback"] == [
        {"backend": "a", "error": "超时"},
        {"backend": "b", "error": "boom"},
    ]
    a.enqueue(ModelUnavailable("超时"))
    with pytest.raises(ModelError, match="所有模型都不可用"):
        Router([a]).chat(MESSAGES)


def test_stream_falls_back_before_the_first_chunk() -> None:
    a, b = ScriptedBackend("a"), ScriptedBackend("b")
    a.enqueue(ModelUnavailable("down"))
    b.enqueue("您好")
    assert collect(Router([a, b]).stream(MESSAGES)).content == "您好"


def test_stream_says_who_answers_caches_what_finished_and_ends_offline(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'cache.db'}")
    db.migrate()
    a, b = ScriptedBackend("a"), ScriptedBackend("b")
    a.enqueue(*[ModelUnavailable("down")] * 3)
    b.enqueue("您好。", ModelUnavailable("down"))
    router = Router([a, b], cache=ResponseCache(db, ttl=60))
    heard: list[tuple[str, bool, list[str]]] = []

    def stream(evidence: str) -> ChatResponse:
        chunks = router.stream(
            MESSAGES,
            evidence=evidence,
            offline=OfflineBackend(responder=lambda _m: "离线回答"),
            on_start=lambda r: heard.append((r.backend, r.cached, [f.backend for f in r.failures])),
        )
        return collect(chunks)

    first = stream("e1")
    assert (first.content, first.model) == ("您好。", "b")
    assert stream("e1").content == "您好。" and len(b.requests) == 1  # the cached answer
    assert stream("e2").content == "离线回答"  # another evidence: both fail, offline answers
    assert heard == [("b", False, ["a"]), ("b", True, ["a"]), ("offline", False, ["a", "b"])]
    db.dispose()


def test_cache_hits_expires_and_can_be_off(backend_url: str) -> None:
    db = Database(backend_url)
    db.migrate()
    cache = ResponseCache(db, ttl=60)
    key = cache_key("m", MESSAGES, None, ["evidence:1"])
    assert key != cache_key("m", MESSAGES, None, ["evidence:2"])
    assert key != cache_key("other", MESSAGES, None, ["evidence:1"])
    response = ChatResponse("中文回答", model="m", finish_reason="stop")
    cache.put(key, "m", response)
    cache.put(key, "m", response)  # replacing is fine
    assert cache.get(key) == response
    with db.write() as conn:
        conn.execute(update(llm_cache).values(expires_at=datetime.now() - timedelta(seconds=1)))
    assert cache.get(key) is None
    off = ResponseCache(db, ttl=0)
    off.put(key, "m", response)
    assert off.get(key) is None
    db.dispose()


def test_a_model_that_fails_to_build_falls_back_offline_with_the_reason() -> None:
    from finassist.llm.registry import register_backend

    @register_backend("test-broken-sdk")
    def _broken(name: str, config: object, settings: object) -> ScriptedBackend:
        raise TypeError("Timeout() got an unexpected keyword argument")

    settings = Settings(models={"remote": {"backend": "test-broken-sdk"}})
    router = build_router(settings, "remote")
    routed = router.chat(MESSAGES, offline=OfflineBackend())
    assert routed.response.content == NO_MODEL_REPLY
    [failure] = routed.meta()["fallback"]
    assert failure["backend"] == "remote" and "无法创建" in failure["error"]
    assert "TypeError" in failure["error"] and "离线引擎" in failure["error"]
    b = ScriptedBackend("b")
    b.enqueue("您好")
    assert collect(Router([*router.default, b]).stream(MESSAGES)).content == "您好"
