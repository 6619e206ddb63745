"""One turn: understand -> gather evidence -> answer -> guard -> store -> reply.

The assistant is assembled by :func:`finassist.runtime.build_assistant` (the CLI, the server and
the evaluator all call it). Each turn runs one pipeline:

1. **understand** (:mod:`finassist.assistant.understand`): the caller's scope, the intent, the
   enterprise and the window are decided once and carried in a :class:`Turn`;
   ``UNDERSTANDERS`` (a list) may refine the understanding (a query parser, a calculation
   route) before anything is answered.
2. **answer**: the one :class:`Answerer` chosen when the assistant was built (the offline
   composer, or a model through :mod:`finassist.assistant.llm_turn`) gathers evidence through
   the registered composers (``HANDLERS``), answers and guards the answer.
3. **store**: the turn is stored and its number set as ``Reply.turn_id``.

>>> assistant = build_assistant(settings)                             # doctest: +SKIP
>>> reply = assistant.ask("华东汽车近12个月的现金流怎么样？", manager_id="M001")  # doctest: +SKIP
>>> reply.text, [e.id for e in reply.evidence], reply.turn_id         # doctest: +SKIP
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from typing import Any, Protocol

import finassist.assistant.advice
import finassist.assistant.charts
import finassist.assistant.knowledge  # noqa: F401  (registers the knowledge composers)
from finassist.assistant import calculation, guard, policy
from finassist.assistant.compose import template
from finassist.assistant.handlers import HANDLERS, Answer
from finassist.assistant.knowledge import Retriever
from finassist.assistant.query_turn import QueryLayer
from finassist.assistant.session import Session, SessionState, SessionStore
from finassist.assistant.types import Reply
from finassist.assistant.understand import (
    CLARIFY,
    Scopes,
    Turn,
    Understander,
    Understanding,
)
from finassist.errors import NotFound
from finassist.finance.base import ToolContext
from finassist.finance.directory import EnterpriseDirectory
from finassist.llm.router import Router
from finassist.llm.types import ChatBackend
from finassist.nlp.intent import IntentRouter
from finassist.nlp.normalize import MAX_MESSAGE_CHARS, normalize_message, normalize_text
from finassist.store import Database

__all__ = ["Answerer", "Assistant", "OfflineAnswerer", "Turn", "Understanding"]


class Answerer(Protocol):
    """Answers an understood turn: gathers evidence, composes, guards; fills ``reply``."""

    def answer(self, turn: Turn, reply: Reply) -> Reply: ...


class OfflineAnswerer:
    """The offline engine: the intent's composer fills Chinese templates from tool results."""

    def answer(self, turn: Turn, reply: Reply) -> Reply:
        if turn.understanding.intent == "greeting":
            reply.text = policy.small_talk_reply(turn.text)
            return reply
        compose = HANDLERS.get(turn.understanding.intent)
        if compose is None and turn.retriever is not None and turn.retriever.has_kb:
            compose = HANDLERS["kb_fallback"]  # a question no composer takes may be in the KB
        if compose is None:
            reply.text = template("unknown")
            return reply
        evidence = turn.input()
        try:
            answer: Answer = compose(evidence)
        except NotFound:
            return turn.not_found(reply)
        checked = guard.check(answer.text, evidence.book.items)
        reply.text = checked.text
        reply.calculation, problems = calculation.checked(evidence, evidence.book.items)
        if problems:  # never cite a calculation the guard could not verify
            reply.text = template("calc_withheld").format(items="；".join(problems))
        if checked.unsupported:
            reply.unverified = checked.unsupported
            reply.text += "\n" + template("unverified_note").format(
                items="、".join(checked.unsupported)
            )
        reply.evidence = list(evidence.book.items)
        reply.recommendation = answer.recommendation
        reply.chart = answer.chart
        return reply


class Assistant:
    """The grounded supply-chain finance assistant; build it with ``runtime.build_assistant``.

    ``router`` classifies intents (nlp/), ``retriever`` searches the knowledge base and the web,
    ``backend`` (a model :class:`Router` or one backend) answers instead of the offline composer.
    """

    def __init__(
        self,
        db: Database,
        *,
        as_of: date | None = None,
        router: IntentRouter | None = None,
        retriever: Retriever | None = None,
        backend: Router | ChatBackend | None = None,
        understanders: list[Understander] | None = None,
        max_message_chars: int = MAX_MESSAGE_CHARS,
    ) -> None:
        self.db = db
        self.max_message_chars = max_message_chars
        self.queries = QueryLayer()  # issue 14: data questions over the caller's own book
        self.retriever = retriever
        self.router = router or IntentRouter.default()
        self.sessions = SessionStore(db)
        self.scopes = Scopes(db)
        self.understanders = understanders
        self._as_of = as_of
        # The one place where offline vs model is decided.
        self.answerer: Answerer = OfflineAnswerer()
        self.backend = backend
        if backend is not None:
            from finassist.assistant.llm_turn import ModelAnswerer

            self.answerer = ModelAnswerer(backend, self.sessions)

    # -- public --------------------------------------------------------------------------------

    def as_of(self) -> date:
        """'Today' for analytics: the configured date, else the data's date, else today."""
        if self._as_of is None:
            self._as_of = self.db.data_as_of() or date.today()
        return self._as_of

    def caller(self, manager_id: str) -> Any:
        """The relationship manager (or admin) ``manager_id``; unknown ids are refused."""
        return self.scopes.caller(manager_id)

    def ask(
        self,
        text: str,
        *,
        manager_id: str,
        session_id: str | None = None,
        record: bool = True,
        session: Session | None = None,
    ) -> Reply:
        """Answer one message in a conversation (a new one when ``session_id`` is None).

        ``record=False`` answers a one-off question without storing a conversation (an
        evaluation run: its questions are not the bank's traffic nor any version's usage).
        ``session`` is a conversation the caller already loaded (or :meth:`resume` rebuilt);
        a new conversation is stored only together with its first turn.
        """
        message = normalize_message(text, max_chars=self.max_message_chars)
        caller = self.scopes.caller(manager_id)  # the manager's role: looked up once per turn
        if session is not None:
            pass
        elif session_id:
            session = self.sessions.load(session_id, manager_id, is_admin=caller.is_admin)
        elif record:
            session = self.sessions.new(manager_id)
        else:
            session = Session(uuid.uuid4().hex, manager_id, SessionState(), 0)
        tools = ToolContext(self.db, caller, self.as_of())
        with self._turn_reads(tools) as tools:
            directory = self.scopes.directory(tools)
            # A client moved to another manager leaves this conversation's memory at once.
            lost = session.state.forget_hidden(lambda eid: directory.get(eid) is not None)
            reply = None
            if self.backend is None:  # a model gets the same layer as its query_data tool
                reply = self.queries.answer(message, session, tools, directory)
            if reply is None:
                turn = self._understand(message, session, tools, directory)
                reply = self._answer(turn)
                turn.remember()
                self.queries.forget(session.state)
        if lost and reply.clarification:
            reply.text = template("focus_lost") + reply.text
        if not record:
            return reply
        stored = self.sessions.append(
            session,
            user_text=message,
            reply_text=reply.text,
            intent=reply.intent,
            payload={
                "enterprise_id": reply.enterprise_id,
                "evidence": [e.to_json() for e in reply.evidence],
                "recommendation": reply.recommendation,
                "unverified": reply.unverified,
                # the drawing itself, so a reopened conversation shows it (no server path)
                "chart": {k: v for k, v in reply.chart.items() if k != "png_path"}
                if reply.chart
                else None,
                "calculation": reply.calculation,
            },
            model=reply.meta.get("model"),
        )
        reply.turn_id = stored.seq
        return reply

    @contextmanager
    def _turn_reads(self, tools: ToolContext) -> Iterator[ToolContext]:
        """``tools`` whose reads share one read-only connection for an offline turn (five or
        so queries: a fresh SQLite connection costs about half a millisecond and starts with a
        cold page cache). A model turn keeps one connection per tool run: it must not hold a
        database connection while it waits for the model. Closed before the turn is stored."""
        if self.backend is not None or tools.connection is not None:
            yield tools
            return
        with self.db.read() as conn:
            yield replace(tools, connection=conn)

    def _understand(
        self, message: str, session: Session, tools: ToolContext, directory: EnterpriseDirectory
    ) -> Turn:
        """Decide intent, enterprise and window once for ``message``."""
        return Turn.understand(
            message,
            session=session,
            tools=tools,
            directory=directory,
            intents=self.router,
            retriever=self.retriever,
            understanders=self.understanders,
        )

    def resume(self, history: list[tuple[str, str]], *, manager_id: str) -> Session:
        """A new, not yet stored conversation whose memory is rebuilt from earlier exchanges
        (user message, reply) that a stateless client sends back: each message is understood
        again (nothing answered, no model called); the exchanges are stored with the next turn.
        """
        caller = self.scopes.caller(manager_id)
        session = self.sessions.new(manager_id)
        tools = ToolContext(self.db, caller, self.as_of())
        directory = self.scopes.directory(tools)
        for user_text, reply_text in history:
            message = normalize_text(user_text)
            if not message:
                continue  # a blank message in a client's history carries nothing
            turn = self._understand(message, session, tools, directory)
            turn.remember()
            understanding = turn.understanding
            intent = understanding.reply_intent or understanding.intent
            session.imported.append((message, reply_text, intent))
        return session

    # -- answering ---------------------------------------------------------------------------------

    def _answer(self, turn: Turn) -> Reply:
        understanding = turn.understanding
        ent = understanding.enterprise
        reply = Reply(
            session_id=turn.session.id,
            text="",
            intent=understanding.intent,
            enterprise_id=ent["id"] if ent else None,
        )
        if understanding.reply is not None:  # the turn ends in a question or a refusal
            reply.text = understanding.reply
            reply.intent = understanding.reply_intent or understanding.intent
            reply.clarification = understanding.reply_intent == CLARIFY
            return reply
        if understanding.intent == "handoff":
            reply.text = policy.handoff_reply(turn.text)
            return reply
        return self.answerer.answer(turn, reply)
