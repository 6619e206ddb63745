"""The assistant gives the same answers on SQLite, PostgreSQL and MariaDB (same seeded data)."""

from __future__ import annotations

import pytest

from finassist.assistant import Assistant
from finassist.store import Database

CONVERSATION = (
    "华东汽车近12个月的现金流怎么样？",
    "他们还有哪些应收发票没付？",
    "帮我出一份聚力电机的现金流健康度报告",
    "给恒泰精密推荐一个融资产品",
    "德丰模具有没有被执行",
    "那华信呢",
    "第二家",
)


def play(db: Database) -> list[tuple[str, str, list[str]]]:
    assistant = Assistant(db)
    session = None
    transcript = []
    for message in CONVERSATION:
        reply = assistant.ask(message, manager_id="M001", session_id=session)
        session = reply.session_id
        transcript.append((reply.intent, reply.text, [e.id for e in reply.evidence]))
    return transcript


@pytest.fixture(scope="module")
def reference(sample_db: Database) -> list[tuple[str, str, list[str]]]:
    return play(sample_db)


def test_same_conversation_same_answers(seeded_backend: Database, reference) -> None:
    transcript = play(seeded_backend)
    assert [t[0] for t in transcript] == [r[0] for r in reference]
    for (_, text, evidence), (_, ref_text, ref_evidence) in zip(transcript, reference, strict=True):
        assert text == ref_text
        assert evidence == ref_evidence
