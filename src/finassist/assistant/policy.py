"""What the assistant must not answer itself, and the small talk it answers without tools."""

from __future__ import annotations

from finassist.assistant.compose import template
from finassist.assistant.handlers import Answer, TurnInput, handler

# Which hand-off reply a matched keyword calls for; the keywords themselves live in intents.yaml.
_HANDOFF_KINDS: dict[str, tuple[str, ...]] = {
    "guaranteed_return": ("保本", "保证收益", "稳赚", "无风险", "保证回报", "承诺收益", "刚性兑付"),
    "legal": ("法律", "律师", "起诉", "官司", "合同纠纷", "合同有效", "违法"),
    "data_scope": ("所有客户", "全部客户", "其他客户经理", "别人的客户", "客户名单", "内幕"),
    "human": ("转人工", "人工客服", "投诉"),
}
_THANKS = ("谢谢", "感谢", "辛苦了")
_GOODBYE = ("再见", "拜拜")


def handoff_reply(text: str) -> str:
    """The polite hand-off that fits what was asked."""
    for kind, words in _HANDOFF_KINDS.items():
        if any(word in text for word in words):
            return template(f"handoff.{kind}")
    return template("handoff.human")


def small_talk_reply(text: str) -> str:
    """Greeting, thanks or goodbye."""
    if any(word in text for word in _THANKS):
        return template("thanks")
    if any(word in text for word in _GOODBYE):
        return template("goodbye")
    return template("greeting")


# Investment questions (大盘/板块/个股/基金/理财) get the compliance answer: no live market data is
# connected and the assistant gives no buy/sell advice; policy and service questions go to the KB.
INVESTMENT_INTENTS = ("market", "sector", "stock", "fund", "wealth_product")


def _investment(turn: TurnInput) -> Answer:
    return Answer([template("investment")])


for _intent in INVESTMENT_INTENTS:
    handler(_intent)(_investment)
