"""Model backends behind one chat protocol, a registry of them, routing and a response cache.

Heavy libraries (torch, transformers) are imported only when a local model is loaded.
"""

from finassist.llm.registry import backend_kinds, create_backend, get_backend, register_backend
from finassist.llm.router import FINANCE, GENERAL, Routed, Router, build_router
from finassist.llm.types import (
    ChatBackend,
    ChatResponse,
    Message,
    ModelError,
    ModelUnavailable,
    StreamChunk,
    ToolCall,
)

__all__ = [
    "FINANCE",
    "GENERAL",
    "ChatBackend",
    "ChatResponse",
    "Message",
    "ModelError",
    "ModelUnavailable",
    "Routed",
    "Router",
    "StreamChunk",
    "ToolCall",
    "backend_kinds",
    "build_router",
    "create_backend",
    "get_backend",
    "register_backend",
]
