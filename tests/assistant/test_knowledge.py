"""Knowledge answers as a user sees them: quoted, cited by document and article, honest when
the knowledge base has nothing, and the web only as the last resort."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from finassist.assistant import Assistant
from finassist.config import Settings
from finassist.kb import KnowledgeBase
from finassist.kb.sample import load_sample
from finassist.kb.types import Document, Section
from finassist.nlp.intent import IntentRouter
from finassist.runtime import build_assistant
from finassist.store import Database
from finassist.websearch import SearchResult, WebSearchError

SAMPLE = (
    "manual-reverse_factoring",
    "manual-purchase_financing",
    "glossary",
    "law-d049",
    "law-d082",
)


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory, sample_db: Database) -> Iterator[KnowledgeBase]:
    """A copy of the seeded sample database with part of the sample knowledge base."""
    path = tmp_path_factory.mktemp("kb") / "sample.db"
    path.write_bytes(Path(sample_db.url.removeprefix("sqlite:///")).read_bytes())
    db = Database(f"sqlite:///{path}")
    kb = KnowledgeBase(db)
    load_sample(kb, ids=SAMPLE)
    yield kb
    db.dispose()


def _assistant(kb: KnowledgeBase | None, db: Database, web: object = None) -> Assistant:
    return build_assistant(
        Settings(), db=db, kb=kb, web=web, backend=None, intents=IntentRouter.rules_only()
    )


class FakeWeb:
    """A web search provider that records its calls."""

    name = "fake"

    def __init__(self, fail: bool = False) -> None:
        self.queries: list[str] = []
        self.fail = fail

    def search(self, query: str, limit: int = 5) -> list[SearchResult]:
        self.queries.append(query)
        if self.fail:
            raise WebSearchError("网络搜索（fake）超时，请稍后再试。")
        return [
            SearchResult("量子科普", "https://web.example.cn/q", "量子纠缠是一种量子现象。", "fake")
        ]


def test_law_question_quotes_the_article_and_cites_it(kb: KnowledgeBase) -> None:
    reply = _assistant(kb, kb.db).ask("民法典关于保理合同的规定", manager_id="M001")
    assert reply.intent == "knowledge"
    assert "第七百六十一条" in reply.text and "[1]" in reply.text
    first = reply.evidence[0]
    assert first.kind == "passage" and first.id.startswith("chunk:law-d049:")
    assert first.source.startswith("《中华人民共和国民法典·合同编》第七百六")
    assert {"doc_id", "title", "locator", "text", "score"} <= set(first.data)
    # every quoted sentence is in its passage: nothing invented, nothing left unverified
    assert reply.unverified == []
    assert "保理人提供资金融通" in reply.text


def test_nothing_relevant_is_said_plainly(kb: KnowledgeBase) -> None:
    reply = _assistant(kb, kb.db).ask("量子纠缠的含义是什么", manager_id="M001")
    assert "没有找到" in reply.text and reply.evidence == []


def test_without_a_knowledge_base_the_assistant_says_how_to_get_one(sample_db: Database) -> None:
    reply = Assistant(sample_db, router=IntentRouter.rules_only()).ask(
        "民法典关于保理合同的规定", manager_id="M001"
    )
    assert "未配置知识库" in reply.text


def test_unknown_questions_fall_back_to_the_knowledge_base(kb: KnowledgeBase) -> None:
    with_kb = _assistant(kb, kb.db).ask("保兑仓怎么运作", manager_id="M001")
    assert "保兑仓" in with_kb.text and with_kb.evidence[0].kind == "passage"
    without = Assistant(kb.db, router=IntentRouter.rules_only()).ask(
        "保兑仓怎么运作", manager_id="M001"
    )
    assert without.evidence == [] and "没有完全理解" in without.text
    nothing = _assistant(kb, kb.db).ask("今天午饭吃什么", manager_id="M001")
    assert "没有完全理解" in nothing.text


def test_product_details_add_the_manual_passage(kb: KnowledgeBase) -> None:
    reply = _assistant(kb, kb.db).ask("反向保理需要什么材料", manager_id="M001")
    assert reply.intent == "product_info"
    assert "产品手册中的相关说明" in reply.text
    assert any(e.id == "chunk:manual-reverse_factoring:3" for e in reply.evidence)
    assert reply.unverified == []


@pytest.mark.parametrize(
    "text", ["反向保理的申请材料有哪些", "订单融资的申请条件有哪些", "经销融资需要哪些材料"]
)
def test_a_products_terms_are_not_read_as_its_financing_records(
    kb: KnowledgeBase, text: str
) -> None:
    reply = _assistant(kb, kb.db).ask(text, manager_id="M001")
    assert reply.intent == "product_info" and not reply.clarification
    assert "融资余额" not in reply.text and "统计口径" not in reply.text


def test_web_search_only_when_the_knowledge_base_has_nothing(kb: KnowledgeBase) -> None:
    web = FakeWeb()
    assistant = _assistant(kb, kb.db, web)
    answered = assistant.ask("民法典关于保理合同的规定", manager_id="M001")
    assert web.queries == [] and answered.evidence[0].kind == "passage"
    reply = assistant.ask("量子纠缠的含义是什么", manager_id="M001")
    assert web.queries == ["量子纠缠的含义是什么"]
    assert "网络搜索结果" in reply.text and "[1]" in reply.text
    assert reply.evidence[0].kind == "web"
    assert reply.evidence[0].source == "量子科普（https://web.example.cn/q）"
    failing = _assistant(kb, kb.db, FakeWeb(fail=True)).ask(
        "量子纠缠的含义是什么", manager_id="M001"
    )
    assert "网络搜索也未成功" in failing.text


def test_service_questions_say_where_to_go_and_never_search_the_web(kb: KnowledgeBase) -> None:
    web = FakeWeb()
    reply = _assistant(kb, kb.db, web).ask("如何修改联系号码", manager_id="M001")
    assert reply.intent == "customer_service"
    assert "不能查看或办理您的个人账户" in reply.text and "客服热线" in reply.text
    assert "没有完全理解" not in reply.text
    assert reply.evidence == [] and web.queries == []  # another firm's steps would mislead


def test_service_questions_quote_an_ingested_service_manual(
    tmp_path: Path, sample_db: Database
) -> None:
    path = tmp_path / "service.db"
    path.write_bytes(Path(sample_db.url.removeprefix("sqlite:///")).read_bytes())
    db = Database(f"sqlite:///{path}")
    kb = KnowledgeBase(db)
    steps = "修改预留联系号码：登录手机银行，进入“我的—个人资料—联系号码”，验证短信后即可修改。"
    doc = Document("faq-contact", "手机银行客服手册", "faq", "客服手册.md", [Section(steps, "")])
    kb.add_documents([doc])
    try:
        reply = _assistant(kb, db).ask("如何修改联系号码", manager_id="M001")
        assert reply.intent == "customer_service"
        assert "验证短信后即可修改" in reply.text and "[1]" in reply.text
        assert reply.evidence[0].id.startswith("chunk:faq-contact:")
        assert reply.unverified == []
    finally:
        db.dispose()
