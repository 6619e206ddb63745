"""The official openai SDK as the client, against uvicorn on loopback (streaming and not)."""

from __future__ import annotations

import openai
import pytest
from tests.serve.conftest import Keys, LiveServer

QUESTION = "远航汽配还有哪些应收发票没付？"


def client(live: LiveServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live.url}/v1", api_key=key, max_retries=0, timeout=30)


def test_sdk_lists_models_and_answers_whole(live: LiveServer, keys: Keys) -> None:
    sdk = client(live, keys.m1)
    assert [m.id for m in sdk.models.list()] == ["finassist"]
    raw = sdk.chat.completions.with_raw_response.create(
        model="finassist", messages=[{"role": "user", "content": QUESTION}]
    )
    session = raw.headers["x-session-id"]
    completion = raw.parse()
    assert "宁波远航汽车零部件有限公司" in completion.choices[0].message.content
    extra = completion.model_extra["finassist"]
    assert extra["session_id"] == session and extra["evidence"]
    follow = sdk.chat.completions.create(
        model="finassist",
        messages=[{"role": "user", "content": "给他们推荐一个融资产品"}],
        extra_headers={"X-Session-Id": session},
    )
    assert follow.model_extra["finassist"]["recommendation"]["enterprise_id"] == "E0006"


def test_sdk_streams_with_the_extra_on_the_final_chunk(live: LiveServer, keys: Keys) -> None:
    sdk = client(live, keys.m1)
    stream = sdk.chat.completions.create(
        model="finassist",
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, extra, usage = [], None, None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if (chunk.model_extra or {}).get("finassist"):
            extra = chunk.model_extra["finassist"]
        usage = chunk.usage or usage
    text = "".join(pieces)
    assert pieces == [text] and "[1]" in text  # a finished reply is not chopped
    assert extra and extra["evidence"] and extra["turn_seq"] == 1
    assert usage and usage.completion_tokens > 0


def test_sdk_raises_its_usual_errors(live: LiveServer, keys: Keys) -> None:
    with pytest.raises(openai.AuthenticationError) as denied:
        client(live, "fa-bad.key").models.list()
    assert "API 密钥" in denied.value.message
    with pytest.raises(openai.BadRequestError) as too_long:
        client(live, keys.m1).chat.completions.create(
            model="finassist", messages=[{"role": "user", "content": "问" * 5000}]
        )
    assert too_long.value.code == "message_too_long"
    with pytest.raises(openai.NotFoundError):
        client(live, keys.m1).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "你好"}]
        )
