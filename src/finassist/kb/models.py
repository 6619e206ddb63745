"""Optional models at a local path: a sentence embedder and a cross-encoder reranker.

Both are small protocols with a registry of loaders; tests register fakes the same way.
Nothing is downloaded: a spec names a loader and a local directory, e.g.
``sentence-transformers:/models/bge-small-zh`` (a bare path means the default loader).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from finassist.errors import FinassistError

VECTORS_EXTRA = "pip install 'finassist[vectors]'（即 sentence-transformers）"


class ModelUnavailable(FinassistError):
    """A configured model cannot be loaded; the message says what to install or where to look."""


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors (one row per text)."""

    name: str

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


class Reranker(Protocol):
    """Scores (query, passage) pairs; higher is more relevant."""

    name: str

    def score(self, query: str, texts: Sequence[str]) -> list[float]: ...


EMBEDDERS: dict[str, Callable[[str], Embedder]] = {}
RERANKERS: dict[str, Callable[[str], Reranker]] = {}


def register_embedder(
    name: str,
) -> Callable[[Callable[[str], Embedder]], Callable[[str], Embedder]]:
    """Register a loader ``path -> Embedder``."""

    def wrap(fn: Callable[[str], Embedder]) -> Callable[[str], Embedder]:
        EMBEDDERS[name] = fn
        return fn

    return wrap


def register_reranker(
    name: str,
) -> Callable[[Callable[[str], Reranker]], Callable[[str], Reranker]]:
    """Register a loader ``path -> Reranker``."""

    def wrap(fn: Callable[[str], Reranker]) -> Callable[[str], Reranker]:
        RERANKERS[name] = fn
        return fn

    return wrap


def _split(spec: str, default: str) -> tuple[str, str]:
    name, sep, path = spec.partition(":")
    if sep and name in (EMBEDDERS | RERANKERS) and not Path(spec).exists():  # type: ignore[operator]
        return name, path
    return default, spec


def load_embedder(spec: str) -> Embedder:
    """The embedder a spec names (``loader:path`` or a path for sentence-transformers)."""
    name, path = _split(spec, "sentence-transformers")
    return EMBEDDERS[name](path)


def load_reranker(spec: str) -> Reranker:
    """The reranker a spec names (``loader:path`` or a path for a cross-encoder)."""
    name, path = _split(spec, "cross-encoder")
    return RERANKERS[name](path)


def _local_dir(path: str, what: str) -> Path:
    local = Path(path).expanduser()
    if not local.is_dir():
        raise ModelUnavailable(
            f"{what}目录不存在：{local}。finassist 不会下载模型，请先把模型放到本地目录再指定该路径。"
        )
    return local


def _import_sentence_transformers() -> Any:
    try:
        import sentence_transformers
    except ImportError as exc:
        raise ModelUnavailable(f"向量检索与重排序需要可选依赖，请安装：{VECTORS_EXTRA}。") from exc
    return sentence_transformers


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local directory (no hub access)."""

    def __init__(self, path: str) -> None:
        local = _local_dir(path, "向量模型")
        st = _import_sentence_transformers()
        self.name = f"sentence-transformers:{local.name}"
        self._model = st.SentenceTransformer(str(local), local_files_only=True)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._model.encode(list(texts), normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32)


class CrossEncoderReranker:
    """A sentence-transformers CrossEncoder loaded from a local directory."""

    def __init__(self, path: str) -> None:
        local = _local_dir(path, "重排序模型")
        st = _import_sentence_transformers()
        self.name = f"cross-encoder:{local.name}"
        self._model = st.CrossEncoder(str(local), local_files_only=True)

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        return [float(s) for s in self._model.predict([(query, t) for t in texts])]


register_embedder("sentence-transformers")(SentenceTransformerEmbedder)
register_reranker("cross-encoder")(CrossEncoderReranker)


def rrf(rankings: Sequence[Sequence[int]], k: int = 60) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: ``sum(1 / (k + rank))`` over the rankings, best first.

    >>> rrf([[1, 2, 3], [3, 1]])[0][0]
    1
    """
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def to_blob(vector: np.ndarray) -> bytes:
    """A vector as float32 bytes for ``kb_chunks.embedding``."""
    return np.asarray(vector, dtype=np.float32).tobytes()


def from_blobs(blobs: Sequence[bytes]) -> np.ndarray:
    """Stacked float32 vectors from ``kb_chunks.embedding`` values."""
    return np.vstack([np.frombuffer(b, dtype=np.float32) for b in blobs])
