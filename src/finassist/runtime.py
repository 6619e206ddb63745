"""The one assembly: settings in, a wired assistant out.

``build_runtime(settings)`` opens the database, the knowledge sources (knowledge base and web
search behind one :class:`~finassist.assistant.knowledge.Retriever`), the model backends and
their router, and the intent classifier, and builds the :class:`Assistant` from them. The CLI
(``ask``, ``chat``, ``demo``), the server (``create_app``) and ``eval run`` all call it, so the
same settings give the same assistant everywhere.

Tests plug fakes in at the same seam, by keyword: ``db``, ``backend`` (a chat backend or a
router instead of the configured models), ``kb``, ``web``, ``embedder``, ``intents``,
``web_transport`` (an ``httpx`` transport for the web search provider).

>>> runtime = build_runtime(Settings.load())                  # doctest: +SKIP
>>> runtime.assistant.ask("反向保理是什么？", manager_id="M001").text   # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from finassist.assistant import Assistant
from finassist.assistant.knowledge import KnowledgeSources
from finassist.config import KbSettings, Settings, secrets
from finassist.errors import FinassistError
from finassist.llm.router import Router, build_router
from finassist.llm.types import ChatBackend
from finassist.nlp.intent import IntentRouter
from finassist.store import Database
from finassist.websearch import WebSearch, build_provider

_UNSET: Any = object()


@dataclass
class Runtime:
    """Everything one process serves from: the parts and the assistant built over them.

    ``kb`` is None (with ``kb_problem`` saying why) when the knowledge base cannot be opened;
    ``llm`` is None for the offline engine.
    """

    settings: Settings
    db: Database
    llm: Router | None
    kb: Any
    web: WebSearch | None
    retriever: KnowledgeSources
    assistant: Assistant
    kb_problem: str | None = None


def build_runtime(
    settings: Settings,
    *,
    model: str | None = None,
    db: Database | None = None,
    backend: Router | ChatBackend | None = _UNSET,
    kb: Any = _UNSET,
    web: WebSearch | None = _UNSET,
    embedder: Any = _UNSET,
    intents: IntentRouter | None = None,
    web_transport: httpx.BaseTransport | None = None,
    check_schema: bool = True,
) -> Runtime:
    """Wire the parts ``settings`` describe; keyword arguments replace single parts.

    ``model`` (``--model``) picks one named model over ``settings.model``; ``offline`` turns
    models off. The database must be at the newest schema version (``check_schema``).
    """
    db = db or Database.from_settings(settings)
    if check_schema:
        db.check_schema()
    llm = build_router(settings, model, db) if backend is _UNSET else _as_router(backend)
    kb_problem = None
    if kb is _UNSET:
        try:
            kb = open_kb(settings.kb, db, embedder=embedder)
        except FinassistError as exc:
            kb, kb_problem = None, str(exc)
    if web is _UNSET:
        web = build_provider(settings.websearch, secrets(), transport=web_transport)
    retriever = KnowledgeSources(kb=kb, web_search=web)
    assistant = Assistant(
        db,
        as_of=settings.as_of,
        router=intents,
        retriever=retriever,
        backend=llm,
        max_message_chars=settings.server.max_message_chars,
    )
    return Runtime(settings, db, llm, kb, web, retriever, assistant, kb_problem)


def build_assistant(settings: Settings, **seams: Any) -> Assistant:
    """The assistant :func:`build_runtime` wires (same keyword seams)."""
    return build_runtime(settings, **seams).assistant


def open_kb(kb: KbSettings, db: Database, *, embedder: Any = _UNSET) -> Any:
    """The knowledge base over ``db`` with the embedder and reranker the settings name.

    Dense retrieval is on when ``kb.hybrid`` is set (the default) or an ``embedder`` object is
    given; the fusion weights and the similarity floor come from ``kb``.
    """
    from finassist.kb import KnowledgeBase, get_embedder, load_reranker

    if embedder is _UNSET:
        embedder = get_embedder(kb.embedder, threads=kb.embed_threads or 1) if kb.hybrid else None
    reranker = load_reranker(kb.reranker) if kb.reranker else None
    return KnowledgeBase(
        db,
        embedder=embedder,
        reranker=reranker,
        bm25_weight=kb.bm25_weight,
        dense_weight=kb.dense_weight,
        min_similarity=kb.min_similarity,
    )


def _as_router(backend: Router | ChatBackend | None) -> Router | None:
    if backend is None or isinstance(backend, Router):
        return backend
    return Router.single(backend)
