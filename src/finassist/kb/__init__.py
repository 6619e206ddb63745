"""Knowledge base: ingest, Chinese chunking, BM25 (+ optional vectors) retrieval, citations."""

from finassist.embed import ModelUnavailable, get_embedder
from finassist.kb.base import IngestReport, KnowledgeBase
from finassist.kb.models import load_reranker
from finassist.kb.readers import IngestError
from finassist.kb.types import Chunk, Document, Passage, SearchResult, Section

__all__ = [
    "Chunk",
    "Document",
    "IngestError",
    "IngestReport",
    "KnowledgeBase",
    "ModelUnavailable",
    "Passage",
    "SearchResult",
    "Section",
    "get_embedder",
    "load_reranker",
]
