"""Optional reranker at a local path (a cross-encoder).

Embedders live in :mod:`finassist.embed` (the one registry). Rerankers are a small protocol
with a registry of loaders; tests register fakes the same way. Nothing is downloaded: a spec
names a loader and a local directory, e.g. ``cross-encoder:/models/bge-reranker`` (a bare path
means the default loader).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from finassist.embed import ModelUnavailable, import_sentence_transformers, local_model_dir

__all__ = ["RERANKERS", "ModelUnavailable", "Reranker", "load_reranker", "register_reranker"]


class Reranker(Protocol):
    """Scores (query, passage) pairs; higher is more relevant."""

    name: str

    def score(self, query: str, texts: Sequence[str]) -> list[float]: ...


RERANKERS: dict[str, Callable[[str], Reranker]] = {}


def register_reranker(
    name: str,
) -> Callable[[Callable[[str], Reranker]], Callable[[str], Reranker]]:
    """Register a loader ``path -> Reranker``; a name already taken is refused."""

    def wrap(fn: Callable[[str], Reranker]) -> Callable[[str], Reranker]:
        if name in RERANKERS:
            raise ValueError(f"reranker {name!r} is already registered")
        RERANKERS[name] = fn
        return fn

    return wrap


def load_reranker(spec: str) -> Reranker:
    """The reranker a spec names (``loader:path`` or a path for a cross-encoder)."""
    name, sep, path = spec.partition(":")
    if sep and name in RERANKERS and not Path(spec).exists():
        return RERANKERS[name](path)
    return RERANKERS["cross-encoder"](spec)


class CrossEncoderReranker:
    """A sentence-transformers CrossEncoder loaded from a local directory."""

    def __init__(self, path: str) -> None:
        local = local_model_dir(path, "重排序模型")
        st = import_sentence_transformers()
        self.name = f"cross-encoder:{local.name}"
        self._model = st.CrossEncoder(str(local), local_files_only=True)

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        return [float(s) for s in self._model.predict([(query, t) for t in texts])]


register_reranker("cross-encoder")(CrossEncoderReranker)
