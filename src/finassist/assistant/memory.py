"""Memory across days: earlier days as a summary, today's turns as they were said.

A conversation can be resumed a week later. The model then gets, besides today's last turns,
one short summary per earlier day: written by the model when one is configured (and cached
like any answer), else built from the structured slot memory (which companies, which topics).
A back-reference such as 上次说的那家 resolves to the company the conversation was about.

>>> recall("上次说的那家最近怎么样", SessionState(enterprise_id="E0005", enterprise_name="恒泰精密"))
{'id': 'E0005', 'name': '恒泰精密'}
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from itertools import groupby

from finassist.assistant.session import SessionState, SessionStore, StoredTurn
from finassist.llm.types import Message

MAX_RECENT_TURNS = 6
MAX_SUMMARY_DAYS = 7
MAX_QUESTION_CHARS = 40
_RECALL = re.compile(
    r"(上次|上回|之前|前几天|上周|上个星期|那天|先前|昨天|刚才)[^，。？！,.?!]{0,8}?"
    r"(那家|那个企业|那个公司|那个客户|那户)"
)
SUMMARY_PROMPT = (
    "请用不超过三句话概括下面这段客户经理与助手的对话：涉及哪些企业、问了什么、结论是什么。"
    "只写对话里出现过的内容，不要补充数字以外的推测。"
)
SUMMARY_HEAD = "此前几天的对话摘要（仅供理解上下文；其中的数字不是本轮证据，引用前须重新查询）："

Summarizer = Callable[[date, list[StoredTurn]], str]


def recall(text: str, state: SessionState) -> dict[str, str] | None:
    """The company a back-reference (上次说的那家 / 之前那个企业) points to, or None."""
    if state.enterprise_id and _RECALL.search(text):
        return {"id": state.enterprise_id, "name": state.enterprise_name or ""}
    return None


def structured_summary(day: date, turns: list[StoredTurn], state: SessionState) -> str:
    """A summary without a model: the companies and topics of that day, from the slot memory."""
    names = {m["id"]: m["name"] for m in state.mentioned}
    if state.enterprise_id:
        names.setdefault(state.enterprise_id, state.enterprise_name or state.enterprise_id)
    topics: list[str] = []
    for turn in turns:
        enterprise = turn.payload.get("enterprise_id")
        who = names.get(enterprise, enterprise) if enterprise else ""
        question = turn.user_text[:MAX_QUESTION_CHARS]
        topics.append(f"{who + '·' if who else ''}{turn.intent}：{question}")
    return f"{day.isoformat()}：" + "；".join(topics)


class Memory:
    """Builds the conversation context a model sees for one turn."""

    def __init__(self, store: SessionStore) -> None:
        self.store = store

    def context(
        self,
        session_id: str,
        state: SessionState,
        *,
        today: date,
        summarize: Summarizer | None = None,
    ) -> list[Message]:
        """A summary message for earlier days (if any), then today's recent turns."""
        history = self.store.history(session_id)
        earlier = [t for t in history if t.created_at.date() < today]
        recent = [t for t in history if t.created_at.date() >= today][-MAX_RECENT_TURNS:]
        messages: list[Message] = []
        days = [(d, list(ts)) for d, ts in groupby(earlier, key=lambda t: t.created_at.date())]
        if days:
            lines = []
            for day, turns in days[-MAX_SUMMARY_DAYS:]:
                summary = ""
                if summarize is not None:
                    try:
                        summary = f"{day.isoformat()}：{summarize(day, turns).strip()}"
                    except Exception:  # a summary is a convenience: fall back to the slots
                        summary = ""
                lines.append(summary or structured_summary(day, turns, state))
            if state.enterprise_id:
                lines.append(
                    f"上次讨论的企业：{state.enterprise_name or ''}（{state.enterprise_id}）。"
                )
            messages.append(Message.system(SUMMARY_HEAD + "\n" + "\n".join(lines)))
        for turn in recent:
            messages.append(Message.user(turn.user_text))
            messages.append(Message.assistant(turn.reply_text))
        return messages


def transcript(turns: list[StoredTurn]) -> str:
    """A day's turns as plain text for the model to summarise."""
    return "\n".join(f"客户经理：{t.user_text}\n助手：{t.reply_text}" for t in turns)
