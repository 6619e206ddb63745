"""A/B routing between model versions: sticky per conversation, in the configured shares, with
counts per variant, through the registry (scripted variants) and through the HTTP server."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.serve.conftest import copy_sample, make_keys

from finassist.assistant import Assistant
from finassist.config import Settings
from finassist.errors import ConfigError
from finassist.llm import Router, get_backend
from finassist.llm.ab import ABBackend, conversation
from finassist.llm.hf import HFBackend
from finassist.llm.scripted import ScriptedBackend
from finassist.llm.types import ChatResponse, Message, ModelUnavailable, collect
from finassist.llm.versions import ModelVersion, save_version
from finassist.nlp.intent import IntentRouter
from finassist.serve import ServerOptions, create_app
from finassist.store import Database


def echo(messages: list[Message]) -> str:
    return f"答：{messages[-1].content}"


def settings_with(home: Path, variants: dict[str, float], **models: dict) -> Settings:
    return Settings(
        home=home,
        llm_cache_ttl=0,
        models={
            "fin-v1": {"backend": "scripted"},
            "fin-v2": {"backend": "scripted"},
            "fin-ab": {"backend": "ab", "variants": variants},
            **models,
        },
    )


def ab_backend(home: Path, variants: dict[str, float]) -> ABBackend:
    backend = get_backend("fin-ab", settings_with(home, variants))
    assert isinstance(backend, ABBackend)
    for variant in variants:
        scripted = backend.backend(variant)
        assert isinstance(scripted, ScriptedBackend)
        scripted.enqueue(*[echo] * 50)
    return backend


def test_a_conversation_keeps_its_variant_across_turns(tmp_path: Path) -> None:
    ab = ab_backend(tmp_path, {"fin-v1": 0.5, "fin-v2": 0.5})
    seen: dict[str, str] = {}
    for n in range(12):
        history = [Message.system("你是助手"), Message.user(f"第 {n} 位客户的现金流")]
        answered = set()
        for turn in range(3):
            response = ab.chat(history)
            answered.add(response.model)
            history += [Message.assistant(response.content), Message.user(f"追问 {turn}")]
        assert len(answered) == 1, "a conversation switched versions between turns"
        seen[f"conv-{n}"] = answered.pop()
    assert set(seen.values()) == {"fin-v1", "fin-v2"}  # and both versions get conversations


def test_the_answer_names_the_variant_and_stats_count_per_variant(tmp_path: Path) -> None:
    ab = ab_backend(tmp_path, {"fin-v1": 0.5, "fin-v2": 0.5})
    answered = Counter(ab.chat([Message.user(f"问题 {i}")]).model for i in range(20))
    stats = ab.stats()
    assert {v: int(s["requests"]) for v, s in stats.items()} == dict(answered)
    assert all(s["errors"] == 0 and s["share"] == 0.5 for s in stats.values())
    response = ab.chat([Message.user("问题 3")])
    assert response.content == "答：问题 3" and response.model in ("fin-v1", "fin-v2")


def test_shares_are_honoured_over_many_conversations(tmp_path: Path) -> None:
    ab = ab_backend(tmp_path, {"fin-v1": 9, "fin-v2": 1})  # shares need not sum to 1
    counts = Counter(ab.choose(f"session-{i}") for i in range(5000))
    assert abs(counts["fin-v2"] / 5000 - 0.1) < 0.02
    paused = ab_backend(tmp_path, {"fin-v1": 1, "fin-v2": 0})  # a zero share pauses a variant
    assert {paused.choose(f"s{i}") for i in range(200)} == {"fin-v1"}


def test_a_conversation_key_overrides_the_first_message(tmp_path: Path) -> None:
    ab = ab_backend(tmp_path, {"fin-v1": 0.5, "fin-v2": 0.5})
    first = [Message.user("同一个开场白")]
    by_session = {}
    for session in (f"s{i}" for i in range(20)):
        with conversation(session):
            by_session[session] = ab.chat(first).model
            # A later turn with another history still goes where the session went.
            assert ab.chat([Message.user("完全不同的消息")]).model == by_session[session]
    assert set(by_session.values()) == {"fin-v1", "fin-v2"}
    assert ab.chat(first).model == ab.chat(first).model  # outside: the first message decides


def test_the_assistant_keeps_each_session_on_one_version(
    tmp_path: Path, sample_db: Database
) -> None:
    ab = ab_backend(tmp_path, {"fin-v1": 0.5, "fin-v2": 0.5})
    bot = Assistant(sample_db, router=IntentRouter.rules_only(), backend=ab)
    by_session = {}
    # The same words open every session: the (random) session id decides. 20 sessions all on
    # one side of a 50/50 split would happen once in 500,000 runs.
    for _ in range(20):
        first = bot.ask("你好", manager_id="M001")
        again = bot.ask("谢谢，再见", manager_id="M001", session_id=first.session_id)
        assert first.meta["model"] == again.meta["model"]
        by_session[first.session_id] = first.meta["model"]
    assert set(by_session.values()) == {"fin-v1", "fin-v2"}


def test_a_failing_variant_counts_an_error_and_the_router_falls_back(tmp_path: Path) -> None:
    ab = get_backend("fin-ab", settings_with(tmp_path, {"fin-v1": 1.0}))
    broken = ab.backend("fin-v1")
    broken.enqueue(ModelUnavailable("fin-v1 超时"))
    fallback = ScriptedBackend("general")
    fallback.enqueue("兜底回答")
    routed = Router([ab, fallback]).chat([Message.user("你好")])
    assert routed.backend == "general" and routed.response.content == "兜底回答"
    assert routed.failures[0].backend == "fin-ab" and "fin-v1 超时" in routed.failures[0].error
    assert ab.stats()["fin-v1"]["requests"] == 1 and ab.stats()["fin-v1"]["errors"] == 1


def test_streams_are_routed_and_counted_like_whole_answers(tmp_path: Path) -> None:
    ab = ab_backend(tmp_path, {"fin-v1": 0.5, "fin-v2": 0.5})
    messages = [Message.user("流式问题")]
    variant = ab.chat(messages).model
    assert collect(ab.stream(messages)).content == "答：流式问题"
    assert ab.stats()[variant]["requests"] == 2
    ab.backend(variant).queue.clear()
    ab.backend(variant).enqueue(RuntimeError("断开"))
    with pytest.raises(RuntimeError):
        list(ab.stream(messages))
    assert ab.stats()[variant]["errors"] == 1


def test_versions_are_variants_and_are_only_loaded_when_asked(tmp_path: Path) -> None:
    save_version(
        tmp_path, ModelVersion("fin-v3", "merged", "/models/base", path=str(tmp_path / "nowhere"))
    )
    ab = get_backend("fin-ab", settings_with(tmp_path, {"fin-v1": 0.5, "fin-v3": 0.5}))
    version = ab.backend("fin-v3")  # built lazily, nothing loaded yet
    assert isinstance(version, HFBackend) and version.path == tmp_path / "nowhere"


@pytest.mark.parametrize(
    ("variants", "models", "message"),
    [
        ({}, {}, "fin-ab].variants"),
        ({"fin-v1": -0.1, "fin-v2": 1.1}, {}, "fin-v1 的流量占比 -0.1 无效"),
        ({"fin-v1": 0, "fin-v2": 0}, {}, "之和须大于 0"),
        ({"fin-v1": 0.5, "nope": 0.5}, {}, "未配置名为 nope 的模型"),
        ({"fin-v1": 0.5, "fin-ab": 0.5}, {}, "fin-ab → fin-ab"),
        (
            {"fin-v1": 0.5, "inner": 0.5},
            {"inner": {"backend": "ab", "variants": {"fin-ab": 1}}},
            "fin-ab → inner → fin-ab",
        ),
    ],
)
def test_bad_variants_are_config_errors_naming_the_problem(
    tmp_path: Path, variants: dict[str, float], models: dict, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        get_backend("fin-ab", settings_with(tmp_path, variants, **models))
    assert message in str(caught.value)


def test_an_ab_model_of_ab_models_routes_through_both(tmp_path: Path) -> None:
    settings = settings_with(
        tmp_path, {"inner": 1.0}, inner={"backend": "ab", "variants": {"fin-v2": 1.0}}
    )
    outer = get_backend("fin-ab", settings)
    inner = outer.backend("inner")
    inner.backend("fin-v2").enqueue(ChatResponse("内层回答", model="fin-v2"))
    response = outer.chat([Message.user("你好")])
    assert response.content == "内层回答" and response.model == "inner"
    assert inner.stats()["fin-v2"]["requests"] == 1


def test_the_server_answers_through_an_ab_model_and_counts_per_version(
    tmp_path: Path, sample_db: Database
) -> None:
    copy_sample(sample_db, tmp_path / "finassist.db")
    settings = settings_with(tmp_path, {"fin-v1": 0.5, "fin-v2": 0.5})
    app = create_app(settings, options=ServerOptions(rate_per_minute=0))
    ab = app.state.server.models.get("fin-ab")
    for variant in ("fin-v1", "fin-v2"):
        ab.backend(variant).enqueue(*[echo] * 10)
    key = make_keys(app.state.server.db).m1
    answered = Counter()
    with TestClient(app, raise_server_exceptions=False) as client:
        for i in range(8):
            body = {"model": "fin-ab", "messages": [{"role": "user", "content": f"客户 {i}"}]}
            reply = client.post(
                "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
            )
            assert reply.status_code == 200
            assert reply.json()["choices"][0]["message"]["content"] == f"答：客户 {i}"
            answered[ab.choose(f"客户 {i}")] += 1
        metrics = client.get("/metrics").text
    assert 'finassist_chat_requests_total{model="fin-ab",stream="false"} 8.0' in metrics
    for variant, n in answered.items():
        line = f'finassist_variant_requests_total{{ab="fin-ab",model="{variant}"}} {float(n)}'
        assert line in metrics
        assert f'finassist_variant_errors_total{{ab="fin-ab",model="{variant}"}} 0.0' in metrics
