"""BERTScore (Zhang et al., 2020) with a transformers encoder read from a local directory.

Each text is tokenised, encoded, and the hidden states of one layer (the last by default) are
kept for its content tokens ([CLS], [SEP] and padding dropped) and L2-normalised. A candidate
and its reference are compared by greedy matching on cosine similarity: precision is the mean
over candidate tokens of the best match among reference tokens, recall the mean over reference
tokens of the best match among candidate tokens, and F1 their harmonic mean. With ``idf=True``
the means are weighted by inverse document frequency over the references scored together.
Baseline rescaling is not done: it needs per-model baselines computed on a large corpus.

Nothing is downloaded (``local_files_only``); torch and transformers (the ``train`` extra) are
imported when the model is loaded, by :meth:`BertScorer.warm_up`.

    scorer = BertScorer("/models/bert-base-chinese")
    scorer.score(["保理是应收账款融资"], ["保理是卖方转让应收账款的融资"])[0].f1
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finassist.errors import InvalidInput
from finassist.llm.types import MissingExtra, ModelError, ModelNotFound

DEFAULT_BATCH_SIZE = 32
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "tokenizer.model",
    "spiece.model",
    "sentencepiece.bpe.model",
)
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
# These architectures number positions from padding_idx + 1, so two of their
# max_position_embeddings are not usable by text.
_POSITION_OFFSET = {"roberta": 2, "xlm-roberta": 2, "camembert": 2}
# Tokenizers without a configured limit report a huge sentinel as model_max_length.
_UNSET_LIMIT = 1_000_000


@dataclass(frozen=True)
class BertScore:
    """One pair's precision, recall and F1 (cosine based: 1 for identical texts)."""

    p: float
    r: float
    f1: float


@dataclass(frozen=True)
class TokenEmbeddings:
    """A text's content-token ids and their L2-normalised vectors (``[len(ids), hidden]``)."""

    ids: list[int]
    vectors: Any


def _require() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise MissingExtra(
            f"计算 BERTScore 缺少依赖 {exc.name}。"
            "请安装可选依赖：pip install 'finassist[train]'（含 torch、transformers）。"
        ) from exc
    return torch, transformers


def check_model_dir(path: Path) -> None:
    """:class:`ModelNotFound` naming ``path`` and what it lacks, if it is not a model directory."""
    if not path.is_dir():
        raise ModelNotFound(
            f"BERTScore 模型目录 {path} 不存在。finassist 不会下载模型，"
            "请先把模型（如 bert-base-chinese）下载到本地目录，再用 --bertscore-model 指定该目录。"
        )
    missing = []
    if not (path / "config.json").is_file():
        missing.append("config.json")
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        missing.append(f"分词器文件（{' 或 '.join(TOKENIZER_FILES[:2])}）")
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        missing.append(f"模型权重（{' 或 '.join(WEIGHT_FILES[::2])}）")
    if missing:
        raise ModelNotFound(
            f"BERTScore 模型目录 {path} 不完整，缺少：{'、'.join(missing)}。"
            "请指向完整的本地模型目录（含 config.json、分词器与权重）。"
        )


class BertScorer:
    """Scores candidates against references with BERTScore; ``warm_up()`` loads the model once.

    ``layer`` picks the hidden states (0 = the embedding output, ``n`` = the last of ``n``
    layers; None = the last); ``idf`` weights tokens by their inverse document frequency over
    the references of each :meth:`score` call.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        layer: int | None = None,
        idf: bool = False,
        batch_size: int = DEFAULT_BATCH_SIZE,
        device: str = "cpu",
    ) -> None:
        if batch_size < 1:
            raise InvalidInput("BERTScore 的批大小至少为 1。")
        self.path = Path(path).expanduser()
        self.layer = layer
        self.idf = idf
        self.batch_size = batch_size
        self.device = device
        self.model: Any = None
        self.tokenizer: Any = None
        self.max_length = 0
        self._torch: Any = None

    def describe(self) -> str:
        """A line naming the model, the layer and the weighting (for reports)."""
        layer = "最后一层" if self.layer is None else f"第 {self.layer} 层"
        return f"{self.path}（{layer}{'，IDF 加权' if self.idf else ''}）"

    def warm_up(self) -> None:
        """Load the tokenizer and the model from the local directory (once)."""
        if self.model is not None:
            return
        check_model_dir(self.path)
        torch, transformers = _require()
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(
                str(self.path), local_files_only=True
            )
            model = transformers.AutoModel.from_pretrained(
                str(self.path), local_files_only=True, dtype=torch.float32
            )
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"无法加载 BERTScore 模型 {self.path}：{exc}") from exc
        config = model.config
        layers = int(getattr(config, "num_hidden_layers", 0) or 0)
        if self.layer is not None and not 0 <= self.layer <= layers:
            raise InvalidInput(
                f"BERTScore 层号 {self.layer} 超出范围：模型 {self.path} 共 {layers} 层，"
                f"可选 0–{layers}（0 为词嵌入输出，{layers} 为最后一层）。"
            )
        limit = int(getattr(config, "max_position_embeddings", 512) or 512)
        limit -= _POSITION_OFFSET.get(getattr(config, "model_type", ""), 0)
        if tokenizer.model_max_length < _UNSET_LIMIT:
            limit = min(limit, int(tokenizer.model_max_length))
        self.max_length = limit
        self._torch, self.tokenizer = torch, tokenizer
        self.model = model.to(self.device).eval()

    # -- encoding ----------------------------------------------------------------------------------

    def _tokenize(self, texts: Sequence[str]) -> Any:
        return self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_special_tokens_mask=True,
            return_tensors="pt",
        )

    def _encode(self, texts: Sequence[str]) -> tuple[Any, Any, Any]:
        """Padded normalised vectors ``[B, L, H]``, content mask ``[B, L]`` and ids ``[B, L]``."""
        torch = self._torch
        batch = self._tokenize(texts)
        special = batch.pop("special_tokens_mask")
        mask = batch["attention_mask"].bool() & ~special.bool()
        inputs = {k: v.to(self.device) for k, v in batch.items()}
        with torch.inference_mode():
            if self.layer is None:
                hidden = self.model(**inputs).last_hidden_state
            else:
                hidden = self.model(**inputs, output_hidden_states=True).hidden_states[self.layer]
        vectors = torch.nn.functional.normalize(hidden.float().cpu(), dim=-1)
        return vectors * mask.unsqueeze(-1), mask, batch["input_ids"]

    def embed(self, texts: Sequence[str]) -> list[TokenEmbeddings]:
        """Each text's content-token ids and normalised vectors (what :meth:`score` matches)."""
        self.warm_up()
        out: list[TokenEmbeddings] = []
        for start in range(0, len(texts), self.batch_size):
            vectors, mask, ids = self._encode(texts[start : start + self.batch_size])
            for row in range(len(vectors)):
                keep = mask[row]
                out.append(TokenEmbeddings(ids[row][keep].tolist(), vectors[row][keep]))
        return out

    def idf_weights(self, references: Sequence[str]) -> tuple[dict[int, float], float]:
        """``log((M + 1) / (df + 1))`` per token id over ``M`` references, and the weight of a
        token no reference has, ``log(M + 1)`` (as in the BERTScore paper's implementation)."""
        self.warm_up()
        counts: Counter[int] = Counter()
        for start in range(0, len(references), self.batch_size):
            batch = self._tokenize(references[start : start + self.batch_size])
            keep = batch["attention_mask"].bool() & ~batch["special_tokens_mask"].bool()
            for row in range(len(keep)):
                counts.update(set(batch["input_ids"][row][keep[row]].tolist()))
        m = len(references)
        return {t: math.log((m + 1) / (c + 1)) for t, c in counts.items()}, math.log(m + 1)

    # -- scoring -----------------------------------------------------------------------------------

    def _weights(self, ids: Any, mask: Any, table: Any) -> Any:
        """Per-token weights (IDF or uniform), zero off the content tokens; a text whose IDF
        weights are all zero (every token in every reference) falls back to uniform weights."""
        uniform = mask.float()
        if table is None:
            return uniform
        weights = table[ids] * uniform
        empty = weights.sum(dim=1, keepdim=True) == 0
        return self._torch.where(empty, uniform, weights)

    def score(self, candidates: Sequence[str], references: Sequence[str]) -> list[BertScore]:
        """BERTScore of each candidate against its reference; an empty side scores 0."""
        if len(candidates) != len(references):
            raise InvalidInput(
                f"候选文本（{len(candidates)} 条）与参考文本（{len(references)} 条）数量不一致。"
            )
        self.warm_up()
        torch = self._torch
        table = None
        if self.idf:
            known, unseen = self.idf_weights(references)
            table = torch.full((len(self.tokenizer),), unseen)
            for token, weight in known.items():
                table[token] = weight
        # Pairs of similar length share a batch, so little is spent on padding.
        order = sorted(
            range(len(candidates)), key=lambda i: len(candidates[i]) + len(references[i])
        )
        scores: list[BertScore] = [BertScore(0.0, 0.0, 0.0)] * len(candidates)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            n = len(chunk)
            vectors, mask, ids = self._encode(
                [candidates[i] for i in chunk] + [references[i] for i in chunk]
            )
            weights = self._weights(ids, mask, table)
            cand, ref = vectors[:n], vectors[n:]
            # padding vectors are zero; -2 (below any cosine) keeps them from being a best match
            sim = torch.bmm(cand, ref.transpose(1, 2))
            pair_mask = mask[:n].unsqueeze(2) & mask[n:].unsqueeze(1)
            sim = sim.masked_fill(~pair_mask, -2.0)
            wc, wr = weights[:n], weights[n:]
            p = (sim.max(dim=2).values * wc).sum(1) / wc.sum(1).clamp_min(1e-12)
            r = (sim.max(dim=1).values * wr).sum(1) / wr.sum(1).clamp_min(1e-12)
            both = mask[:n].any(1) & mask[n:].any(1)
            p, r = torch.where(both, p, 0.0), torch.where(both, r, 0.0)
            total = p + r
            f1 = torch.where(total != 0, 2 * p * r / torch.where(total != 0, total, 1.0), 0.0)
            for row, index in enumerate(chunk):
                scores[index] = BertScore(float(p[row]), float(r[row]), float(f1[row]))
        return scores
