"""One turn: normalise -> classify -> resolve the company -> gather evidence -> answer -> check.

>>> assistant = Assistant(Database.from_settings(settings))          # doctest: +SKIP
>>> reply = assistant.ask("华东汽车近12个月的现金流怎么样？", manager_id="M001")  # doctest: +SKIP
>>> reply.text, [e.id for e in reply.evidence]                        # doctest: +SKIP
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select

import finassist.assistant.advice
import finassist.assistant.charts
import finassist.assistant.knowledge  # noqa: F401  (registers the knowledge composers)
from finassist.assistant import calculation, guard, llm_turn, memory, policy
from finassist.assistant.compose import template
from finassist.assistant.handlers import HANDLERS, Answer, TurnInput
from finassist.assistant.query_turn import QueryLayer
from finassist.assistant.session import Session, SessionState, SessionStore
from finassist.assistant.slots import (
    explicit_company,
    has_pronoun,
    parse_window,
    pick_candidate,
    residual_name,
)
from finassist.assistant.types import Reply
from finassist.errors import AccessDenied, NotFound
from finassist.finance.base import Caller, ToolContext
from finassist.finance.directory import EnterpriseDirectory, Match
from finassist.nlp.intent import UNKNOWN, IntentRouter
from finassist.nlp.normalize import MAX_MESSAGE_CHARS, normalize_message, normalize_text
from finassist.store import Database
from finassist.store.schema import managers

MAX_CANDIDATES = 5
MIN_UNKNOWN_NAME_CHARS = 3  # a leftover this long that matches no company is a company we lack
CLARIFY = "clarify"
NOT_FOUND = "not_found"


@dataclass
class Understanding:
    """What the assistant made of a message before gathering evidence."""

    intent: str
    enterprise: dict[str, str] | None = None
    reply: str | None = None  # set when the turn ends in a question or a refusal
    reply_intent: str | None = None
    pending: dict[str, Any] | None = None
    window: dict[str, int] = field(default_factory=dict)


class Assistant:
    """The grounded supply-chain finance assistant (offline engine: no model needed)."""

    def __init__(
        self,
        db: Database,
        *,
        as_of: date | None = None,
        router: IntentRouter | None = None,
        kb: Any = None,
        backend: Any = None,
        max_message_chars: int = MAX_MESSAGE_CHARS,
    ) -> None:
        self.db = db
        self.max_message_chars = max_message_chars
        self.kb = kb
        self.backend = backend  # a Router or ChatBackend (llm/); None: the offline engine
        self.router = router or IntentRouter.default()
        self.sessions = SessionStore(db)
        self._as_of = as_of
        self._directories: dict[str, EnterpriseDirectory] = {}
        self._callers: dict[str, Caller] = {}
        self._keywords = self.router.keywords()
        self.queries = QueryLayer()  # issue 14: data questions over the caller's own book

    # -- public --------------------------------------------------------------------------------

    def as_of(self) -> date:
        """'Today' for analytics: the configured date, else the data's date, else today."""
        if self._as_of is None:
            self._as_of = self.db.data_as_of() or date.today()
        return self._as_of

    def caller(self, manager_id: str) -> Caller:
        """The relationship manager (or admin) ``manager_id``; unknown ids are refused."""
        if manager_id not in self._callers:
            with self.db.read() as conn:
                role = conn.execute(
                    select(managers.c.role).where(managers.c.id == manager_id)
                ).scalar_one_or_none()
            if role is None:
                raise AccessDenied(
                    f"未知的客户经理编号：{manager_id}。请用 --manager 指定有效编号（如 M001）。"
                )
            self._callers[manager_id] = Caller(manager_id, is_admin=role == "admin")
        return self._callers[manager_id]

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
        caller = self.caller(manager_id)
        if session is not None:
            pass
        elif session_id:
            session = self.sessions.load(session_id, manager_id, is_admin=caller.is_admin)
        elif record:
            session = self.sessions.new(manager_id)
        else:
            session = Session(uuid.uuid4().hex, manager_id, SessionState(), 0)
        tools = ToolContext(self.db, caller, self.as_of())
        directory = self._directory(caller, tools)
        reply = None
        if self.backend is None:  # a model gets the same layer as its query_data tool
            reply = self.queries.answer(message, session, tools, directory)
        if reply is None:
            understanding = self._understand(message, session.state, directory)
            reply = self._answer(message, understanding, session, tools)
            self._remember(session.state, understanding)
            self.queries.forget(session.state)
        if not record:
            return reply
        self.sessions.append(
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
        return reply

    def resume(self, history: list[tuple[str, str]], *, manager_id: str) -> Session:
        """A new, not yet stored conversation whose memory is rebuilt from earlier exchanges
        (user message, reply) that a stateless client sends back: each message is understood
        again (nothing answered, no model called); the exchanges are stored with the next turn.
        """
        caller = self.caller(manager_id)
        session = self.sessions.new(manager_id)
        tools = ToolContext(self.db, caller, self.as_of())
        directory = self._directory(caller, tools)
        for user_text, reply_text in history:
            message = normalize_text(user_text)
            if not message:
                continue  # a blank message in a client's history carries nothing
            understanding = self._understand(message, session.state, directory)
            self._remember(session.state, understanding)
            intent = understanding.reply_intent or understanding.intent
            session.imported.append((message, reply_text, intent))
        return session

    # -- understanding ---------------------------------------------------------------------------

    def _directory(self, caller: Caller, tools: ToolContext) -> EnterpriseDirectory:
        if caller.manager_id not in self._directories:
            directory = EnterpriseDirectory(tools)
            directory.warm_up()
            self._directories[caller.manager_id] = directory
        return self._directories[caller.manager_id]

    def _understand(
        self, text: str, state: SessionState, directory: EnterpriseDirectory
    ) -> Understanding:
        intent = self.router.classify(text)
        # Word problems and card follow-ups go to the calculator before any company lookup.
        if calculation.is_calculation(text):
            return Understanding(intent=calculation.CALCULATE)
        if calculation.is_card_followup(text, state.last_intent, bool(state.enterprise_id)):
            focus = {"id": state.enterprise_id or "", "name": state.enterprise_name or ""}
            return Understanding(intent=calculation.CARD_TERMS, enterprise=focus)
        result = Understanding(intent=intent.name, window=parse_window(text))
        named = False

        pending = state.pending or {}
        candidates = pending.get("candidates") or []
        if candidates:
            index = pick_candidate(text, [c["name"] for c in candidates])
            if index is not None:
                result.enterprise, named = candidates[index], True

        if result.enterprise is None:
            mentions = directory.scan(text)
            if mentions:
                result.enterprise, named = _entity(mentions[0]), True
            elif (recalled := memory.recall(text, state)) is not None:
                result.enterprise = recalled
            elif has_pronoun(text) and state.enterprise_id:
                result.enterprise = {"id": state.enterprise_id, "name": state.enterprise_name or ""}
            elif intent.needs_enterprise or intent.name == UNKNOWN:
                found = self._lookup_residual(text, intent.name, directory, result)
                if result.reply is not None:
                    if result.reply_intent == CLARIFY:
                        result.pending = {
                            "intent": self._carry_intent(intent.name, state),
                            "candidates": found,
                        }
                    return result
                if found:
                    result.enterprise, named = found[0], True

        if result.intent == UNKNOWN:
            carried = pending.get("intent") or (
                state.last_intent if (named or result.window) else None
            )
            if carried:
                result.intent = carried
                result.window = result.window or dict(state.window)
            elif named:
                result.intent = "profile"

        needs = self.router.by_name.get(result.intent)
        if needs is not None and needs.needs_enterprise and result.enterprise is None:
            if state.enterprise_id:
                result.enterprise = {"id": state.enterprise_id, "name": state.enterprise_name or ""}
            else:
                result.reply, result.reply_intent = template("ask_enterprise"), CLARIFY
                result.pending = {"intent": result.intent, "candidates": []}
        return result

    def _lookup_residual(
        self, text: str, intent: str, directory: EnterpriseDirectory, result: Understanding
    ) -> list[dict[str, str]]:
        """Look up what is left of the message as a (partial, misspelt) company name."""
        explicit = explicit_company(text, self._keywords)
        residual = residual_name(explicit or text, self._keywords) or explicit
        if not residual:
            return []
        matches = directory.search(residual, limit=MAX_CANDIDATES)
        if len(matches) == 1 or (matches and _clear_winner(matches)):
            return [_entity(matches[0])]
        if len(matches) > 1:
            options = "；".join(f"{i}. {m.name}" for i, m in enumerate(matches, start=1))
            result.reply = template("ask_choice").format(options=options)
            result.reply_intent = CLARIFY
            return [_entity(m) for m in matches]
        if explicit or (intent != UNKNOWN and len(residual) >= MIN_UNKNOWN_NAME_CHARS):
            # A name we cannot see is answered exactly like a name that does not exist.
            result.reply = template("not_found").format(name=explicit or residual)
            result.reply_intent = NOT_FOUND
        return []

    @staticmethod
    def _carry_intent(intent: str, state: SessionState) -> str | None:
        return intent if intent != UNKNOWN else state.last_intent

    # -- answering ---------------------------------------------------------------------------------

    def _answer(
        self, text: str, understanding: Understanding, session: Session, tools: ToolContext
    ) -> Reply:
        ent = understanding.enterprise
        reply = Reply(
            session_id=session.id,
            text="",
            intent=understanding.intent,
            enterprise_id=ent["id"] if ent else None,
        )
        if understanding.reply is not None:
            reply.text = understanding.reply
            reply.intent = understanding.reply_intent or understanding.intent
            reply.clarification = understanding.reply_intent == CLARIFY
            return reply
        if understanding.intent == "handoff":
            reply.text = policy.handoff_reply(text)
            return reply
        if self.backend is not None:
            return llm_turn.answer(self, text, understanding, session, tools, reply)
        if understanding.intent == "greeting":
            reply.text = policy.small_talk_reply(text)
            return reply
        compose = HANDLERS.get(understanding.intent)
        if compose is None and self.kb is not None:
            compose = HANDLERS["kb_fallback"]  # a question no composer takes may be in the KB
        if compose is None:
            reply.text = template("unknown")
            return reply
        turn = TurnInput(
            tools=tools,
            text=text,
            enterprise_id=ent["id"] if ent else None,
            enterprise_name=ent["name"] if ent else None,
            window=understanding.window,
            kb=self.kb,
        )
        try:
            answer: Answer = compose(turn)
        except NotFound:
            reply.text = template("not_found").format(name=ent["name"] if ent else "")
            reply.intent = NOT_FOUND
            understanding.enterprise = None
            return reply
        checked = guard.check(answer.text, turn.book.items)
        reply.text = checked.text
        reply.calculation, problems = calculation.checked(turn, turn.book.items)
        if problems:  # never cite a calculation the guard could not verify
            reply.text = template("calc_withheld").format(items="；".join(problems))
        if checked.unsupported:
            reply.unverified = checked.unsupported
            reply.text += "\n" + template("unverified_note").format(
                items="、".join(checked.unsupported)
            )
        reply.evidence = list(turn.book.items)
        reply.recommendation = answer.recommendation
        reply.chart = answer.chart
        return reply

    @staticmethod
    def _remember(state: SessionState, understanding: Understanding) -> None:
        state.pending = understanding.pending
        if understanding.enterprise:
            state.focus(understanding.enterprise["id"], understanding.enterprise["name"])
        if understanding.reply is None and understanding.intent in HANDLERS:
            state.last_intent = understanding.intent
            state.window = understanding.window


def _entity(match: Match) -> dict[str, str]:
    return {"id": match.id, "name": match.name}


def _clear_winner(matches: list[Match]) -> bool:
    """The best match stands out: an exact name hit, or far ahead of the second."""
    first, second = matches[0], matches[1]
    return first.score >= 100 > second.score or first.score - second.score >= 15
