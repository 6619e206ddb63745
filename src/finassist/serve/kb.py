"""The knowledge-base seam the server talks to: ingest bytes, list, delete, search, status.

:func:`kb_binding` wires the runtime's ``finassist.kb.KnowledgeBase`` in through
:class:`KnowledgeBaseService`; without one the KB routes answer 501 with :data:`KB_UNAVAILABLE`.
Tests pass a fake through ``create_app(kb=...)``.

An upload is searchable by BM25 when its request returns; its vectors are computed in the
background (:mod:`finassist.serve.embedding`), and every document says how many of its chunks
have one (``embedded`` of ``n_chunks``).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from finassist.errors import InvalidInput
from finassist.finance.base import jsonable
from finassist.serve.embedding import EmbeddingWorker

if TYPE_CHECKING:
    from finassist.runtime import Runtime

UPLOAD_DIR = "kb_uploads"
EMBED_LOCK = "kb_embedding.lock"  # under the home: one process embeds at a time
DEFAULT_KIND = "policy"
MAX_NAME_CHARS = 200
KB_UNAVAILABLE = "知识库功能尚未启用：本服务未安装或未配置知识库模块（finassist.kb）。"


@runtime_checkable
class KbService(Protocol):
    """What the server needs from a knowledge base.

    Documents are dicts with at least ``id``, ``title`` (or ``filename``) and ``chunks``; passages
    are dicts with at least ``text``, ``document`` (title) and ``locator`` (article / page).
    ``engine`` is the object the assistant gets as ``Assistant(kb=...)`` (may be ``self``).
    """

    engine: Any

    def ingest(self, data: bytes, filename: str) -> dict[str, Any]:
        """Add a document; a bad file raises ``InvalidInput`` with the reason."""
        ...

    def documents(self) -> list[dict[str, Any]]:
        """Every document, newest first."""
        ...

    def delete(self, document_id: str) -> None:
        """Remove a document and its chunks; ``NotFound`` if absent."""
        ...

    def search(self, query: str, limit: int) -> list[dict[str, Any]]:
        """The best passages for ``query``."""
        ...

    def status(self) -> dict[str, Any]:
        """Documents, chunks and how many of them have vectors, and what the embedding does."""
        ...

    def start(self) -> None:
        """Begin background work (the server calls it at startup; nothing to do is fine)."""
        ...

    def close(self) -> None:
        """Stop background work (the server calls it at shutdown)."""
        ...


@dataclass(frozen=True)
class KbBinding:
    """The knowledge base the app uses: a service, or None with the reason shown to users."""

    service: KbService | None
    reason: str = KB_UNAVAILABLE


def kb_binding(runtime: Runtime) -> KbBinding:
    """The runtime's knowledge base as the server's service (or why there is none)."""
    if runtime.kb is None:
        reason = (
            f"{KB_UNAVAILABLE}（{runtime.kb_problem}）" if runtime.kb_problem else KB_UNAVAILABLE
        )
        return KbBinding(None, reason)
    home = runtime.settings.home
    worker = EmbeddingWorker(runtime.kb, home / EMBED_LOCK)
    return KbBinding(KnowledgeBaseService(runtime.kb, home / UPLOAD_DIR, worker=worker))


class KnowledgeBaseService:
    """:class:`KbService` over ``finassist.kb.KnowledgeBase``.

    Uploads are kept under ``home/kb_uploads/<file name>``: the knowledge base derives a
    document's id from its path, so uploading a file of the same name again replaces it.
    ``worker`` computes the vectors after the upload has returned (default: one without a
    cross-process lock).
    """

    def __init__(
        self,
        engine: Any,
        upload_dir: Path,
        *,
        kind: str = DEFAULT_KIND,
        worker: EmbeddingWorker | None = None,
    ) -> None:
        self.engine = engine
        self.upload_dir = upload_dir
        self.kind = kind
        self.worker = worker or EmbeddingWorker(engine, None)

    def ingest(self, data: bytes, filename: str) -> dict[str, Any]:
        name = safe_filename(filename)
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        path = self.upload_dir / name
        # Write to a temp file and rename: a failed upload never leaves half a file behind.
        fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=self.upload_dir)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        previous = path.read_bytes() if path.exists() else None
        os.replace(tmp, path)
        # Stored and indexed for BM25 now; the vectors follow in the background.
        report = self.engine.ingest([path], kind=self.kind, embed=False)
        if report.failed:
            if previous is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(previous)
            reasons = "；".join(message for _file, message in report.failed)
            raise InvalidInput(reasons.replace(str(path), name).replace(str(self.upload_dir), ""))
        self.worker.wake()
        doc_id = document_id_for(path)
        found = [d for d in self.documents() if d["id"] == doc_id]
        summary = {**report.to_json(), "failed": []}  # failures raised above
        return {
            "document": found[0] if found else {"id": doc_id},
            "report": summary,
            "embedding": self.status()["embedding"],
        }

    def documents(self) -> list[dict[str, Any]]:
        return [without_server_path(jsonable(d)) for d in self.engine.documents()]

    def status(self) -> dict[str, Any]:
        docs = self.engine.documents()
        chunks = sum(int(d["n_chunks"]) for d in docs)
        embedder = self.engine.embedder
        embedded = sum(int(d["embedded"] or 0) for d in docs) if embedder is not None else None
        return {
            "documents": len(docs),
            "chunks": chunks,
            "embedded": embedded,
            "embedder": embedder.name if embedder is not None else None,
            "mode": self.engine.mode,
            "embedding": {
                **self.worker.status(),
                "pending": chunks - embedded if embedded is not None else 0,
            },
        }

    def start(self) -> None:
        self.worker.wake()  # resumes what an earlier run left without vectors

    def close(self) -> None:
        self.worker.stop()

    def delete(self, document_id: str) -> None:
        self.engine.remove(document_id)

    def search(self, query: str, limit: int) -> list[dict[str, Any]]:
        result = self.engine.search(query, top_k=limit)
        return [
            without_server_path({**p.to_json(), "citation": p.citation}) for p in result.passages
        ]


def without_server_path(item: dict[str, Any]) -> dict[str, Any]:
    """``item`` with a local file ``source`` cut to its file name (a URL is kept).

    Where the server keeps its files is nobody's business but the server's.
    """
    source = item.get("source")
    if isinstance(source, str) and "://" not in source:
        item = {**item, "source": Path(source.replace("\\", "/")).name}
    return item


def safe_filename(filename: str) -> str:
    """The base name of an uploaded file, without path parts or control characters."""
    name = Path(filename.replace("\\", "/")).name
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*')
    name = name.strip().lstrip(".")
    if not name:
        raise InvalidInput("上传文件的文件名无效，请重命名后再上传。")
    return name[:MAX_NAME_CHARS]


def document_id_for(path: Path) -> str:
    """The id ``finassist.kb`` gives the document read from ``path``."""
    from finassist.kb.readers import document_id

    return document_id(str(path.resolve()))
