"""GGUF export of a full Hugging Face model directory (llama.cpp, Ollama, LM Studio read it).

Written with the pure-Python ``gguf`` package, tensor by tensor (peak memory: one tensor), to a
``.part`` file renamed at the end. Supported: the ``llama`` and ``qwen2`` architectures with a
byte-level BPE tokenizer (gpt2 style: Qwen2/2.5, Llama 3). What llama.cpp's own converter does
for these two is done here too: q/k rows of llama are permuted to its rope layout, a tied output
matrix is left out, 1-D tensors stay F32, and Llama 3.1 ``llama3`` rope scaling becomes the
``rope_freqs`` tensor.

>>> export_gguf(Path("merged"), Path("merged/model-q8_0.gguf"), "q8_0")   # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from finassist.errors import InvalidInput
from finassist.llm.types import MissingExtra

EXTRA_HINT = "请安装可选依赖：pip install 'finassist[train]'（含 gguf、torch、transformers）。"
QK8_0 = 32  # block size of Q8_0: the last dimension must be a multiple of it


@dataclass(frozen=True)
class Arch:
    """How one Hugging Face architecture becomes GGUF."""

    gguf_arch: str  # MODEL_ARCH member name
    tokenizer_pre: str  # llama.cpp's pre-tokeniser name
    permute_qk: bool  # llama.cpp's llama rope pairs (i, i + d/2) differently from HF
    rope_types: tuple[str, ...]  # rope scalings llama.cpp applies for this architecture


ARCHS = {
    "llama": Arch("LLAMA", "llama-bpe", True, ("default", "linear", "yarn", "llama3")),
    "qwen2": Arch("QWEN2", "qwen2", False, ("default", "linear", "yarn")),
}


@dataclass(frozen=True)
class OutType:
    """A GGUF output type: how 2-D weights are stored, and the file-type code."""

    weights: str  # GGMLQuantizationType member name for 2-D weights
    file_type: str  # LlamaFileType member name


OUTTYPES = {
    "f32": OutType("F32", "ALL_F32"),
    "f16": OutType("F16", "MOSTLY_F16"),
    "q8_0": OutType("Q8_0", "MOSTLY_Q8_0"),
}


def _gguf() -> Any:
    try:
        import gguf
    except ImportError as exc:
        raise MissingExtra(f"导出 GGUF 需要 gguf 包。{EXTRA_HINT}") from exc
    return gguf


def read_config(model_dir: Path) -> dict[str, Any]:
    """The model's ``config.json``."""
    path = model_dir / "config.json"
    if not path.is_file():
        raise InvalidInput(f"模型目录 {model_dir} 缺少 config.json，不是 Hugging Face 模型目录。")
    return json.loads(path.read_text(encoding="utf-8"))


def check_gguf_export(config: dict[str, Any], outtype: str) -> Arch:
    """The export plan's architecture; a clear error for an unsupported one or output type.

    Cheap (reads nothing but the config), so a merge checks it before any work.
    """
    if outtype not in OUTTYPES:
        raise InvalidInput(f"不支持的 GGUF 类型 {outtype}，可选：{'、'.join(OUTTYPES)}。")
    model_type = str(config.get("model_type", ""))
    arch = ARCHS.get(model_type)
    if arch is None:
        raise InvalidInput(
            f"GGUF 导出不支持模型架构 {model_type or '（未知）'}，目前支持：{'、'.join(ARCHS)}。"
            "其他架构请用 llama.cpp 的 convert_hf_to_gguf.py。"
        )
    _rope(config, arch)  # unsupported rope scaling fails here too
    return arch


# -- hyper-parameters --------------------------------------------------------------------------


def _rope(config: dict[str, Any], arch: Arch) -> dict[str, Any]:
    """Rope settings in either layout (``rope_theta`` + ``rope_scaling``, or ``rope_parameters``)."""
    params = dict(config.get("rope_parameters") or {})
    params.update(config.get("rope_scaling") or {})
    kind = str(params.get("rope_type") or params.get("type") or "default")
    if kind not in arch.rope_types:
        raise InvalidInput(
            f"GGUF 导出不支持 {arch.gguf_arch.lower()} 架构的 rope 缩放类型 {kind}"
            f"（支持：{'、'.join(arch.rope_types[1:])}）。"
        )
    theta = config.get("rope_theta") or params.get("rope_theta") or 10000.0
    return {**params, "rope_type": kind, "rope_theta": float(theta)}


def _head_dim(config: dict[str, Any]) -> int:
    return int(config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"])


def _write_hparams(writer: Any, gguf: Any, config: dict[str, Any], arch: Arch) -> None:
    n_head = int(config["num_attention_heads"])
    head_dim = _head_dim(config)
    writer.add_context_length(int(config["max_position_embeddings"]))
    writer.add_embedding_length(int(config["hidden_size"]))
    writer.add_block_count(int(config["num_hidden_layers"]))
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_head_count(n_head)
    writer.add_head_count_kv(int(config.get("num_key_value_heads") or n_head))
    writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-6)))
    rope = _rope(config, arch)
    writer.add_rope_freq_base(rope["rope_theta"])
    if head_dim != config["hidden_size"] // n_head:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    writer.add_vocab_size(int(config["vocab_size"]))
    writer.add_rope_dimension_count(head_dim)
    if rope["rope_type"] in ("linear", "yarn"):
        scaling = (
            gguf.RopeScalingType.LINEAR
            if rope["rope_type"] == "linear"
            else gguf.RopeScalingType.YARN
        )
        writer.add_rope_scaling_type(scaling)
        writer.add_rope_scaling_factor(float(rope.get("factor", 1.0)))
        if "original_max_position_embeddings" in rope:
            writer.add_rope_scaling_orig_ctx_len(int(rope["original_max_position_embeddings"]))


def llama3_rope_factors(config: dict[str, Any]) -> list[float]:
    """The per-frequency factors of Llama 3.1 rope scaling (llama.cpp's ``rope_freqs``)."""
    rope = _rope(config, ARCHS["llama"])
    dim = _head_dim(config)
    factor = float(rope.get("factor", 8.0))
    low, high = float(rope.get("low_freq_factor", 1.0)), float(rope.get("high_freq_factor", 4.0))
    old_context = float(rope.get("original_max_position_embeddings", 8192))
    low_wavelen, high_wavelen = old_context / low, old_context / high
    factors = []
    for i in range(0, dim, 2):
        wavelen = 2 * math.pi * rope["rope_theta"] ** (i / dim)
        if wavelen < high_wavelen:
            factors.append(1.0)
        elif wavelen > low_wavelen:
            factors.append(factor)
        else:
            smooth = (old_context / wavelen - low) / (high - low)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    return factors


# -- tokenizer ---------------------------------------------------------------------------------


def _write_tokenizer(
    writer: Any, gguf: Any, model_dir: Path, config: dict[str, Any], arch: Arch
) -> None:
    """gpt2-style vocabulary: tokens, token types, merges, special ids, chat template."""
    path = model_dir / "tokenizer.json"
    data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    if data.get("model", {}).get("type") != "BPE":
        raise InvalidInput(
            f"GGUF 导出只支持字节级 BPE 分词器（tokenizer.json，gpt2 风格），{model_dir} 中没有。"
        )
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    vocab_size = int(config.get("vocab_size") or len(tokenizer))
    by_id = {i: token for token, i in tokenizer.get_vocab().items()}
    added = tokenizer.added_tokens_decoder
    tokens: list[str] = []
    types: list[int] = []
    for i in range(vocab_size):
        token = by_id.get(i)
        if token is None:  # the embedding matrix is larger than the vocabulary (Qwen2.5)
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        elif i in added:
            tokens.append(token)
            types.append(
                gguf.TokenType.CONTROL if added[i].special else gguf.TokenType.USER_DEFINED
            )
        else:
            tokens.append(token)
            types.append(gguf.TokenType.NORMAL)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(arch.tokenizer_pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    special = gguf.SpecialVocab(model_dir, load_merges=True, n_vocab=vocab_size)
    special.add_to_gguf(writer, quiet=True)


# -- tensors -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """One tensor to write: its GGUF name, type, numpy shape and how to get its values."""

    name: str
    qtype: str
    shape: tuple[int, ...]
    load: Callable[[], Any]  # -> float32 numpy array of ``shape``


def _permute(weights: Any, n_head: int) -> Any:
    """llama.cpp's ``LlamaModel.permute``: HF's half-split rope rows to interleaved pairs."""
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def _permuted(load: Callable[[], Any], n_head: int) -> Any:
    return _permute(load(), n_head)


def _safetensors(model_dir: Path) -> Iterator[tuple[str, tuple[int, ...], Callable[[], Any]]]:
    """(name, shape, loader) of every tensor in the directory's safetensors files."""
    from safetensors import safe_open

    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise InvalidInput(f"模型目录 {model_dir} 中没有 .safetensors 权重文件。")
    for file in files:
        with safe_open(str(file), framework="pt") as handle:
            for key in handle.keys():  # noqa: SIM118 (safe_open is not a dict)
                shape = tuple(handle.get_slice(key).get_shape())

                def load(file: Path = file, key: str = key) -> Any:
                    with safe_open(str(file), framework="pt") as h:
                        return h.get_tensor(key).float().numpy()

                yield key, shape, load


def _plans(
    model_dir: Path, gguf: Any, config: dict[str, Any], arch: Arch, outtype: str
) -> list[_Plan]:
    import numpy as np

    blocks = int(config["num_hidden_layers"])
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH[arch.gguf_arch], blocks)
    n_head = int(config["num_attention_heads"])
    n_kv = int(config.get("num_key_value_heads") or n_head)
    tied = bool(config.get("tie_word_embeddings", False))
    plans: list[_Plan] = []
    if _rope(config, arch)["rope_type"] == "llama3":
        factors = np.asarray(llama3_rope_factors(config), dtype=np.float32)
        name = gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FREQS] + ".weight"
        plans.append(_Plan(name, "F32", factors.shape, lambda: factors))
    for key, shape, load in _safetensors(model_dir):
        if key.endswith("rotary_emb.inv_freq") or (tied and key == "lm_head.weight"):
            continue  # recomputed by llama.cpp / the output matrix is the embedding
        name = names.get_name(key, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise InvalidInput(
                f"无法把张量 {key} 对应到 GGUF 名称（架构 {arch.gguf_arch.lower()}）。"
            )
        if arch.permute_qk and key.endswith(
            ("q_proj.weight", "q_proj.bias", "k_proj.weight", "k_proj.bias")
        ):
            heads = n_head if ".q_proj." in key else n_kv
            load = partial(_permuted, load, heads)
        plans.append(_Plan(name, _tensor_type(shape, outtype), shape, load))
    return plans


def _tensor_type(shape: tuple[int, ...], outtype: str) -> str:
    """2-D weights in the output type; 1-D tensors (norms, biases) stay F32 as llama.cpp keeps them."""
    if len(shape) < 2:
        return "F32"
    wanted = OUTTYPES[outtype].weights
    if wanted == "Q8_0" and shape[-1] % QK8_0:
        return "F16"  # llama.cpp falls back the same way for rows Q8_0 cannot block
    return wanted


def _encode(gguf: Any, values: Any, qtype: str) -> Any:
    import numpy as np

    if qtype == "F32":
        return np.ascontiguousarray(values, dtype=np.float32)
    if qtype == "F16":
        return np.ascontiguousarray(values, dtype=np.float16)
    return gguf.quants.quantize(
        np.ascontiguousarray(values, dtype=np.float32), gguf.GGMLQuantizationType[qtype]
    )


def _add_info(writer: Any, gguf: Any, plan: _Plan) -> None:
    import numpy as np

    count = math.prod(plan.shape)
    if plan.qtype == "F32":
        writer.add_tensor_info(plan.name, plan.shape, np.dtype(np.float32), count * 4)
    elif plan.qtype == "F16":
        writer.add_tensor_info(plan.name, plan.shape, np.dtype(np.float16), count * 2)
    else:
        qtype = gguf.GGMLQuantizationType[plan.qtype]
        byte_shape = gguf.quant_shape_to_byte_shape(plan.shape, qtype)
        writer.add_tensor_info(
            plan.name, byte_shape, np.dtype(np.uint8), math.prod(byte_shape), raw_dtype=qtype
        )


# -- export ------------------------------------------------------------------------------------


def export_gguf(
    model_dir: Path, out: Path, outtype: str = "f16", *, name: str | None = None
) -> Path:
    """Write the full model in ``model_dir`` as one GGUF file ``out`` (``f32`` | ``f16`` | ``q8_0``)."""
    gguf = _gguf()
    config = read_config(model_dir)
    arch = check_gguf_export(config, outtype)
    writer = gguf.GGUFWriter(None, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH[arch.gguf_arch]])
    writer.add_name(name or model_dir.name)
    writer.add_file_type(int(getattr(gguf.LlamaFileType, OUTTYPES[outtype].file_type)))
    if OUTTYPES[outtype].weights not in ("F32", "F16"):
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    _write_hparams(writer, gguf, config, arch)
    _write_tokenizer(writer, gguf, model_dir, config, arch)
    plans = _plans(model_dir, gguf, config, arch, outtype)
    for plan in plans:
        _add_info(writer, gguf, plan)
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(f".{out.name}.part")
    try:
        writer.write_header_to_file(path=part)
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for plan in plans:  # same order as the infos: the writer pops them in order
            writer.write_tensor_data(_encode(gguf, plan.load(), plan.qtype))
        writer.close()
        os.replace(part, out)
    except BaseException:
        writer.close()
        part.unlink(missing_ok=True)
        raise
    return out
