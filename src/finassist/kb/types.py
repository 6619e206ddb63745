"""What the knowledge base holds and returns: documents, chunks, passages, search results."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

DOCUMENT_KINDS = ("product", "policy", "news", "report", "faq")
DEFAULT_KIND = "policy"


@dataclass(frozen=True)
class Section:
    """A run of text read from a file, with the heading above it and its page (PDF)."""

    text: str
    heading: str = ""
    page: int | None = None


@dataclass
class Document:
    """One document to ingest: its text as sections plus metadata.

    ``id`` is stable across re-ingests of the same source (a hash of the path, or the id
    a manifest gives), so that a changed file replaces its own chunks.
    """

    id: str
    title: str
    kind: str
    source: str
    sections: list[Section]
    url: str | None = None
    date: date | None = None

    @property
    def text(self) -> str:
        return "\n".join(s.text for s in self.sections)


@dataclass(frozen=True)
class Chunk:
    """A piece of a document, sized for retrieval; ``locator`` is 第X条, 第N页 or a heading."""

    ord: int
    text: str
    heading: str = ""
    locator: str = ""
    page: int | None = None


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its document and score, ready to cite."""

    chunk_id: str
    doc_id: str
    title: str
    kind: str
    locator: str
    text: str
    score: float
    heading: str = ""
    page: int | None = None
    url: str | None = None
    date: date | None = None
    source: str = ""

    @property
    def citation(self) -> str:
        """``《标题》第七百六十一条`` / ``《标题》第3页`` / ``《标题》· 申请材料``."""
        if not self.locator:
            return f"《{self.title}》"
        if self.locator.startswith("第"):
            return f"《{self.title}》{self.locator}"
        return f"《{self.title}》· {self.locator}"

    def to_json(self) -> dict[str, Any]:
        """The ``finassist kb search --json`` shape."""
        return {
            "chunk_id": self.chunk_id,
            "doc_id": self.doc_id,
            "title": self.title,
            "source": self.source,
            "locator": self.locator,
            "score": round(self.score, 6),
            "text": self.text,
            "url": self.url,
            "kind": self.kind,
        }


@dataclass
class SearchResult:
    """Passages best first, the retrieval mode used (``bm25`` | ``hybrid``) and notes for users."""

    passages: list[Passage]
    mode: str = "bm25"
    reranked: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Filters:
    """Restrict a search to document kinds and a date range (inclusive)."""

    kinds: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None

    @property
    def empty(self) -> bool:
        return not self.kinds and self.since is None and self.until is None
