"""The first step of a turn: who asks (scope), what about (intent, enterprise, window).

Everything here is decided once per turn and carried down in a :class:`Turn`; the later steps
read it and never decide it again.

- :class:`Scopes` looks up the caller's role and visible enterprises. Nothing is cached across
  requests except the enterprise directory, which is rebuilt as soon as the caller's client
  list in ``manager_clients`` differs from the one it was built for (a client moved from one
  manager to another is visible to the new one, and gone for the old one, on the next turn).
- ``UNDERSTANDERS`` is the extension point: functions that refine the understanding (a query
  parser, a calculation route) after the built-in steps, in order. Each may set
  ``understanding.intent`` to a composer registered in ``HANDLERS`` and leave what it parsed in
  ``understanding.extras``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml
from sqlalchemy import select

from finassist.assistant import calculation, memory
from finassist.assistant.compose import template
from finassist.assistant.handlers import HANDLERS, TurnInput
from finassist.assistant.session import Session, SessionState
from finassist.assistant.slots import (
    explicit_company,
    has_pronoun,
    parse_window,
    pick_candidate,
    residual_name,
)
from finassist.errors import AccessDenied
from finassist.finance.access import ADMIN_ROLE, visible_ids
from finassist.finance.base import Caller, ToolContext
from finassist.finance.directory import EnterpriseDirectory, Match
from finassist.nlp.intent import UNKNOWN, IntentRouter
from finassist.store import Database
from finassist.store.schema import managers

MAX_CANDIDATES = 5
MIN_UNKNOWN_NAME_CHARS = 3  # a leftover this long that matches no company is a company we lack
CLARIFY = "clarify"
NOT_FOUND = "not_found"
NO_DATA = "no_data"
KNOWLEDGE = "knowledge"
MAX_POSSESSOR = 12  # characters before 的 that may name a company


@dataclass
class Understanding:
    """What the assistant made of a message before gathering evidence."""

    intent: str
    enterprise: dict[str, str] | None = None
    reply: str | None = None  # set when the turn ends in a question or a refusal
    reply_intent: str | None = None
    pending: dict[str, Any] | None = None
    window: dict[str, int] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)  # what an understander parsed


class Scopes:
    """The caller and the enterprises he may see, looked up per turn."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._directories: dict[str, tuple[frozenset[str] | None, EnterpriseDirectory]] = {}

    def caller(self, manager_id: str) -> Caller:
        """The relationship manager (or admin) ``manager_id`` with his role; unknown ids are
        refused. One query, every turn: a role change takes effect at once."""
        with self.db.read() as conn:
            role = conn.execute(
                select(managers.c.role).where(managers.c.id == manager_id)
            ).scalar_one_or_none()
        if role is None:
            raise AccessDenied(
                f"未知的客户经理编号：{manager_id}。请用 --manager 指定有效编号（如 M001）。"
            )
        return Caller(manager_id, is_admin=role == ADMIN_ROLE, role=role)

    def directory(self, tools: ToolContext) -> EnterpriseDirectory:
        """The names of the enterprises the caller sees now (rebuilt when his clients change)."""
        visible = visible_ids(tools)
        key = frozenset(visible) if visible is not None else None
        manager = tools.caller.manager_id
        with self._lock:
            cached = self._directories.get(manager)
        if cached is not None and cached[0] == key:
            return cached[1]
        directory = EnterpriseDirectory(tools)
        directory.warm_up()
        with self._lock:
            self._directories[manager] = (key, directory)
        return directory


@dataclass
class Turn:
    """One message and everything decided about it, passed down the pipeline."""

    text: str
    session: Session
    tools: ToolContext
    directory: EnterpriseDirectory
    understanding: Understanding
    retriever: Any = None  # assistant.knowledge.Retriever

    @classmethod
    def understand(
        cls,
        text: str,
        *,
        session: Session,
        tools: ToolContext,
        directory: EnterpriseDirectory,
        intents: IntentRouter,
        retriever: Any = None,
        understanders: list[Understander] | None = None,
    ) -> Turn:
        """Classify, resolve the enterprise and the window, then run the understanders."""
        understanding = _understand(text, session.state, directory, intents)
        turn = cls(text, session, tools, directory, understanding, retriever)
        for step in UNDERSTANDERS if understanders is None else understanders:
            step(turn)
        return turn

    def input(self) -> TurnInput:
        """What a composer gets (a fresh evidence book)."""
        ent = self.understanding.enterprise
        return TurnInput(
            tools=self.tools,
            text=self.text,
            enterprise_id=ent["id"] if ent else None,
            enterprise_name=ent["name"] if ent else None,
            window=self.understanding.window,
            retriever=self.retriever,
            directory=self.directory,
            extras=self.understanding.extras,
        )

    def not_found(self, reply: Any) -> Any:
        """The enterprise in focus vanished from the caller's view: say so, forget it."""
        ent = self.understanding.enterprise
        reply.text = template("not_found").format(name=ent["name"] if ent else "")
        reply.intent = NOT_FOUND
        self.understanding.enterprise = None
        return reply

    def remember(self) -> None:
        """Carry the focus, the intent and the window into the session state."""
        state, understanding = self.session.state, self.understanding
        state.pending = understanding.pending
        if understanding.enterprise:
            state.focus(understanding.enterprise["id"], understanding.enterprise["name"])
        if understanding.reply is None and understanding.intent in HANDLERS:
            state.last_intent = understanding.intent
            state.window = understanding.window


Understander = Callable[[Turn], None]
UNDERSTANDERS: list[Understander] = []
"""Steps run after the built-in understanding, in order (append to extend)."""


def _understand(
    text: str, state: SessionState, directory: EnterpriseDirectory, intents: IntentRouter
) -> Understanding:
    intent = intents.classify(text)  # the one intent decision of the turn
    # Word problems and card follow-ups go to the calculator before any company lookup.
    if calculation.is_calculation(text):
        return Understanding(intent=calculation.CALCULATE)
    if calculation.is_card_followup(text, state.last_intent, bool(state.enterprise_id)):
        focus = {"id": state.enterprise_id or "", "name": state.enterprise_name or ""}
        return Understanding(intent=calculation.CARD_TERMS, enterprise=focus)
    spec = intents.by_name.get(intent.name)
    # Intents with no composer of their own, 理财 (保证金 is a financing term here), and service
    # questions: a knowledge question or a client's data we do not hold reads as such first.
    unanswered = intent.name in (UNKNOWN, "wealth_product", "customer_service")
    if (unanswered or (spec is not None and spec.needs_enterprise)) and (
        is_knowledge_question(text)
        and not has_pronoun(text)
        and not directory.scan(text)
        and not _possessor(text, directory)
    ):  # 质押率一般多少: a term, not a company named 质押率
        return Understanding(intent=KNOWLEDGE)
    if unanswered and (term := missing_data_term(text)) and (mentions := directory.scan(text)):
        ent = _entity(mentions[0])  # 恒泰精密的授信额度是多少: data we do not hold, said so
        reply = template("no_such_data").format(name=ent["name"], term=term)
        return Understanding(intent=intent.name, enterprise=ent, reply=reply, reply_intent=NO_DATA)
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
            found = _lookup_residual(text, intent.name, directory, result, intents.keywords())
            if result.reply is not None:
                if result.reply_intent == CLARIFY:
                    carried = intent.name if intent.name != UNKNOWN else state.last_intent
                    result.pending = {"intent": carried, "candidates": found}
                return result
            if found:
                result.enterprise, named = found[0], True

    if result.intent == UNKNOWN:
        carried = pending.get("intent") or (state.last_intent if (named or result.window) else None)
        if carried:
            result.intent = carried
            result.window = result.window or dict(state.window)
        elif named:
            result.intent = "profile"

    needs = intents.by_name.get(result.intent)
    if needs is not None and needs.needs_enterprise and result.enterprise is None:
        if state.enterprise_id:
            result.enterprise = {"id": state.enterprise_id, "name": state.enterprise_name or ""}
        else:
            result.reply, result.reply_intent = template("ask_enterprise"), CLARIFY
            result.pending = {"intent": result.intent, "candidates": []}
    return result


def _possessor(text: str, directory: EnterpriseDirectory) -> bool:
    """Whether the words before the first 的 are one company, by a short or loose name
    (宁波润磊的融资利率是多少: the client's own rate, not the term 融资利率)."""
    head, found, _ = text.partition("的")
    if not found or not 2 <= len(head.strip()) <= MAX_POSSESSOR:
        return False
    return len(directory.search(head.strip(), limit=2)) == 1


@lru_cache(maxsize=1)
def _knowledge_words() -> dict[str, list[str]]:
    path = resources.files("finassist.assistant").joinpath("data/knowledge_words.yaml")
    return yaml.safe_load(path.read_text("utf-8"))


def is_knowledge_question(text: str) -> bool:
    """A question about a term, a rule or a procedure, not about a company's data.

    >>> is_knowledge_question("质押率一般多少"), is_knowledge_question("华东汽车的现金流")
    (True, False)
    """
    words = _knowledge_words()
    if any(w in text for w in words["asks_alone"]):
        return True
    return any(w in text for w in words["terms"]) and any(w in text for w in words["asks"])


def missing_data_term(text: str) -> str | None:
    """The first word of ``text`` naming company data the database does not hold (授信额度)."""
    return next((w for w in _knowledge_words()["no_data"] if w in text), None)


def _lookup_residual(
    text: str,
    intent: str,
    directory: EnterpriseDirectory,
    result: Understanding,
    keywords: Any,
) -> list[dict[str, str]]:
    """Look up what is left of the message as a (partial, misspelt) company name."""
    explicit = explicit_company(text, keywords)
    residual = residual_name(explicit or text, keywords) or explicit
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


def _entity(match: Match) -> dict[str, str]:
    return {"id": match.id, "name": match.name}


def _clear_winner(matches: list[Match]) -> bool:
    """The best match stands out: an exact name hit, or far ahead of the second."""
    first, second = matches[0], matches[1]
    return first.score >= 100 > second.score or first.score - second.score >= 15
