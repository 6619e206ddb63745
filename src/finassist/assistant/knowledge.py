"""Knowledge answers: the best sentences of the top passages, cited, never invented.

The offline engine does not write prose of its own about law or products: it picks, from the
passages the knowledge base returns, the sentences that cover the question best, quotes them
with ``[n]`` and names the document and article/page in the evidence. When no passage is
relevant it says so. Only then, and only when web search is enabled, does it search the web.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from finassist.assistant.advice import product_info as product_facts
from finassist.assistant.compose import template
from finassist.assistant.handlers import Answer, TurnInput, handler
from finassist.assistant.types import Evidence
from finassist.kb.chunking import sentences
from finassist.kb.types import Passage
from finassist.websearch.base import SearchResult, WebSearch, WebSearchError

TOP_K = 10  # candidates; the best-covered MAX_PASSAGES of them are quoted
MAX_PASSAGES = 3
MAX_SENTENCES_PER_PASSAGE = 2
MIN_COVERAGE = 0.5  # share of the question's (length-weighted) words a passage must contain
WEB_RESULTS = 3
PRODUCT_ASPECTS = (
    "流程", "步骤", "风险", "材料", "条件", "准入", "期限", "区别", "常见问题", "多久", "担保",
    "保证金", "到账", "逾期", "额度", "循环", "确权", "怎么", "如何", "能不能", "可以吗", "吗",
)  # fmt: skip

HEAD = "根据知识库中的资料："
PRODUCT_HEAD = "产品手册中的相关说明："
FOOTER = "以上内容摘自所引文档原文，具体以原文为准。"
NOTHING = "知识库中没有找到与“{query}”相关的内容，我不便凭猜测回答。您可以换个说法，或请管理员用 `finassist kb ingest` 导入相关文档。"
NO_KB = "当前未配置知识库，无法回答法规、政策与产品资料类问题。可运行 `finassist demo` 载入示例知识库，或用 `finassist kb ingest` 导入文档。"
WEB_HEAD = "知识库中没有找到相关内容，以下是网络搜索结果（来自互联网，请注意核实）："
WEB_FAILED = "知识库中没有找到相关内容，网络搜索也未成功：{error}"


@runtime_checkable
class Retriever(Protocol):
    """What the assistant may search besides the database (the one knowledge seam).

    ``passages`` searches the knowledge base (``[]`` without one); ``web`` searches the web
    (``[]`` when web search is off; a failing provider raises :class:`WebSearchError`).
    ``tokenizer`` scores how much of a question a passage covers.
    """

    @property
    def has_kb(self) -> bool: ...

    @property
    def has_web(self) -> bool: ...

    @property
    def tokenizer(self) -> Any: ...

    def passages(self, query: str, *, top_k: int, kinds: tuple[str, ...] = ()) -> list[Passage]: ...

    def web(self, query: str, *, limit: int) -> list[SearchResult]: ...


@dataclass
class KnowledgeSources:
    """The :class:`Retriever` over a knowledge base (kb/) and a web search provider."""

    kb: Any = None  # finassist.kb.KnowledgeBase
    web_search: WebSearch | None = None

    @property
    def has_kb(self) -> bool:
        return self.kb is not None

    @property
    def has_web(self) -> bool:
        return self.web_search is not None

    @property
    def tokenizer(self) -> Any:
        return self.kb.tokenizer if self.kb is not None else None

    def passages(self, query: str, *, top_k: int, kinds: tuple[str, ...] = ()) -> list[Passage]:
        if self.kb is None:
            return []
        return list(self.kb.search(query, top_k=top_k, kinds=kinds).passages)

    def web(self, query: str, *, limit: int) -> list[SearchResult]:
        if self.web_search is None:
            return []
        return self.web_search.search(query, limit=limit)


def passage_evidence(p: Passage) -> Evidence:
    """A passage as evidence: ``chunk:<id>``, source = document + locator."""
    data: dict[str, Any] = {
        "doc_id": p.doc_id,
        "title": p.title,
        "locator": p.locator,
        "text": p.text,
        "score": round(p.score, 4),
    }
    if p.url:
        data["url"] = p.url
    return Evidence(
        id=f"chunk:{p.chunk_id}", kind="passage", source=p.citation, data=data, text=p.text
    )


def web_evidence(r: SearchResult) -> Evidence:
    """A web result as evidence: ``web:<url>``, source = title + URL."""
    return Evidence(
        id=f"web:{r.url}",
        kind="web",
        source=f"{r.title}（{r.url}）",
        data=r.to_json(),
        text=r.snippet,
    )


def _weight(tokens: set[str], wanted: list[str]) -> float:
    total = sum(len(t) for t in wanted)
    return sum(len(t) for t in wanted if t in tokens) / total if total else 0.0


def relevant(
    retriever: Retriever, query: str, passages: list[Passage]
) -> list[tuple[Passage, list[str]]]:
    """Passages covering enough of the question, each with its best sentences in order.

    Passages that contain more of the question come first (BM25 order breaks ties): a short
    chunk with every word of the question beats a long one repeating a single word.
    """
    tokenizer = retriever.tokenizer
    wanted = tokenizer.query_tokens(query)
    covered = []
    for rank, p in enumerate(passages):
        share = _weight(set(tokenizer.tokens(f"{p.title} {p.heading} {p.text}")), wanted)
        if share >= MIN_COVERAGE:
            covered.append((-share, rank, p))
    chosen = []
    for _, _, p in sorted(covered, key=lambda x: (x[0], x[1]))[:MAX_PASSAGES]:
        parts = sentences(p.text)
        scored = [(_weight(set(tokenizer.tokens(s)), wanted), i) for i, s in enumerate(parts)]
        best = sorted((x for x in scored if x[0] > 0), key=lambda x: (-x[0], x[1]))
        keep = sorted(i for _, i in best[:MAX_SENTENCES_PER_PASSAGE]) or [0]
        chosen.append((p, [parts[i] for i in keep]))
    return chosen


def _cited(sentence: str, cite: str) -> str:
    body = sentence.rstrip("。；;！!？?")
    end = sentence[len(body) :][:1] or "。"
    return f"{body}{cite}{'。' if end in '；;' else end}"


def compose_passages(
    turn: TurnInput, picked: list[tuple[Passage, list[str]]], head: str
) -> list[str]:
    """Numbered lines: ``1. 《标题》第X条：原文句子[n]。``"""
    lines = [head]
    for n, (p, parts) in enumerate(picked, start=1):
        cite = f"[{turn.book.add(passage_evidence(p))}]"
        quoted = "".join(_cited(s, cite) for s in parts)
        if p.locator and quoted.startswith(p.locator):  # "第X条 ..." is already in the citation
            quoted = quoted[len(p.locator) :].lstrip()
        lines.append(f"{n}. {p.citation.rstrip('？?')}：{quoted}")
    return lines


def _web(turn: TurnInput, retriever: Retriever) -> list[str]:
    try:
        results = retriever.web(turn.text, limit=WEB_RESULTS)
    except WebSearchError as exc:
        return [WEB_FAILED.format(error=exc)]
    if not results:
        return []
    lines = [WEB_HEAD]
    for n, r in enumerate(results, start=1):
        cite = f"[{turn.book.add(web_evidence(r))}]"
        snippet = r.snippet.rstrip("。") if r.snippet else ""
        lines.append(f"{n}. {r.title}：{snippet}{cite}。" if snippet else f"{n}. {r.title}{cite}")
    return lines


def answer_from_sources(
    turn: TurnInput, *, fallback: str | None = None, web: bool = True
) -> Answer:
    """Knowledge base first; the web (unless ``web`` is off) only when enabled and the knowledge
    base has nothing."""
    retriever = turn.retriever
    has_kb = retriever is not None and retriever.has_kb
    if has_kb:
        found = retriever.passages(turn.text, top_k=TOP_K)
        picked = relevant(retriever, turn.text, found)
        if picked:
            return Answer([*compose_passages(turn, picked, HEAD), FOOTER])
    if web and retriever is not None and retriever.has_web:
        lines = _web(turn, retriever)
        if lines:
            return Answer(lines)
    if fallback is not None:
        return Answer([fallback])
    return Answer([NOTHING.format(query=turn.text.strip()) if has_kb else NO_KB])


@handler("knowledge")
def knowledge(turn: TurnInput) -> Answer:
    """法规、政策、术语与资料类问题。"""
    return answer_from_sources(turn)


@handler("kb_fallback")
def kb_fallback(turn: TurnInput) -> Answer:
    """An ``unknown`` message when a knowledge base is configured: answer from it, else as before."""
    return answer_from_sources(turn, fallback=template("unknown"))


@handler("customer_service")
def customer_service(turn: TurnInput) -> Answer:
    """账户、App 与个人信用卡/贷款的办理类问题：知识库（如导入的客服手册）里有就引用原文；没有
    就说明助手不能查看或办理个人账户、该去哪里办理。不查网络：别家机构的办理方式会误导客户。"""
    return answer_from_sources(turn, fallback=template("customer_service"), web=False)


@handler("product_info")
def product_info(turn: TurnInput) -> Answer:
    """The catalogue's facts, plus the manual's own words when the question asks for details."""
    answer = product_facts(turn)
    retriever = turn.retriever
    if retriever is None or not retriever.has_kb:
        return answer
    if not any(word in turn.text for word in PRODUCT_ASPECTS):
        return answer
    found = retriever.passages(turn.text, top_k=TOP_K, kinds=("product", "faq"))
    picked = relevant(retriever, turn.text, found)[:2]
    if picked:
        answer.lines.extend(compose_passages(turn, picked, PRODUCT_HEAD))
    return answer
