"""The dialogue layer: one turn = understand -> gather evidence -> answer -> check -> reply."""

from finassist.assistant.core import Assistant
from finassist.assistant.types import Evidence, Reply

__all__ = ["Assistant", "Evidence", "Reply"]
