"""Merge a trained LoRA adapter into its base model and register the result as a version.

``finassist train merge fin-v1`` loads the version's base model and adapter from local
directories, folds the adapter into the weights (``merge_and_unload``), saves safetensors with
the tokenizer and its chat template, and registers ``fin-v1-merged`` (kind ``merged``, parent
``fin-v1``, the parent's config, data hash and metrics). Optional exports travel with it: a GGUF
file (``--gguf f16``) and an 8/4-bit bitsandbytes copy (``--quantize 8bit``, CUDA only).

Everything is written into a hidden staging folder beside the target and renamed at the end,
and the version is registered last: a failed merge leaves neither a half-written model nor a
version pointing at one.

>>> merge_version(Path("~/.finassist"), "fin-v1", gguf="q8_0")   # doctest: +SKIP
ModelVersion(name='fin-v1-merged', kind='merged', ...)
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finassist.errors import InvalidInput
from finassist.llm.types import MissingExtra
from finassist.llm.versions import (
    ModelVersion,
    check_name,
    find_version,
    load_version,
    save_version,
    version_dir,
)
from finassist.train.gguf import check_gguf_export, export_gguf, read_config

EXTRA_HINT = "请安装可选依赖：pip install 'finassist[train]'（含 torch、transformers、peft）。"
QLORA_HINT = "pip install 'finassist[qlora]'"
DTYPES = ("float16", "bfloat16", "float32")
MERGED_DIR = "merged"


@dataclass(frozen=True)
class Quantization:
    """A bitsandbytes export: its name, the sub-folder and the ``BitsAndBytesConfig`` arguments."""

    name: str
    folder: str
    options: dict[str, Any]


QUANTIZATIONS = {
    "8bit": Quantization("8bit", "bnb-8bit", {"load_in_8bit": True}),
    "4bit": Quantization(
        "4bit",
        "bnb-4bit",
        {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": True},
    ),
}


def _libraries() -> tuple[Any, Any, Any]:
    try:
        import peft
        import torch
        import transformers
    except ImportError as exc:
        raise MissingExtra(f"合并 LoRA 适配器缺少依赖 {exc.name}。{EXTRA_HINT}") from exc
    return torch, transformers, peft


def check_quantize(quantize: str) -> Quantization:
    """The quantised export, or a clear error before any work: bitsandbytes needs CUDA."""
    plan = QUANTIZATIONS.get(quantize)
    if plan is None:
        raise InvalidInput(f"不支持的量化方式 {quantize}，可选：{'、'.join(QUANTIZATIONS)}。")
    torch, _, _ = _libraries()
    if not torch.cuda.is_available():
        raise InvalidInput(
            f"{quantize} 量化导出通过 bitsandbytes 完成，需要 NVIDIA GPU（CUDA），本机没有可用的 CUDA。"
            "请在有 GPU 的机器上合并，或改用 --gguf q8_0 导出量化的 GGUF 文件。"
        )
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as exc:
        raise MissingExtra(f"{quantize} 量化导出需要 bitsandbytes：{QLORA_HINT}") from exc
    return plan


def _check(home: Path, version: str, new_name: str, out: Path, dtype: str) -> ModelVersion:
    parent = load_version(home, version)
    if parent.kind == "merged" or not parent.adapter:
        raise InvalidInput(
            f"版本 {version} 没有 LoRA 适配器（类型 {parent.kind}），已经是完整模型，无需合并。"
        )
    if not (Path(parent.adapter) / "adapter_config.json").is_file():
        raise InvalidInput(
            f"版本 {version} 的适配器目录 {parent.adapter} 不存在或缺少 adapter_config.json。"
        )
    if not (Path(parent.base_model) / "config.json").is_file():
        raise InvalidInput(
            f"版本 {version} 的基础模型目录 {parent.base_model} 不存在或缺少 config.json。"
        )
    if dtype not in DTYPES:
        raise InvalidInput(f"不支持的权重精度 {dtype}，可选：{'、'.join(DTYPES)}。")
    if find_version(home, new_name) is not None:
        raise InvalidInput(f"版本 {new_name} 已存在。请用 --name 换一个名字，或先删除该版本。")
    if out.exists():
        raise InvalidInput(f"输出目录 {out} 已存在。请换一个 --out，或先删除该目录。")
    return parent


def merge_version(
    home: Path,
    version: str,
    *,
    out: Path | None = None,
    name: str | None = None,
    dtype: str = "float16",
    gguf: str | None = None,
    quantize: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> ModelVersion:
    """Merge the adapter of ``version`` into its base model; the new ``merged`` version.

    ``out`` defaults to ``<home>/models/<name>/merged`` and ``name`` to ``<version>-merged``.
    ``dtype`` is the precision of the saved weights (float16 | bfloat16 | float32);
    ``gguf`` (f32 | f16 | q8_0) adds a GGUF file, ``quantize`` (8bit | 4bit) a bitsandbytes
    copy. ``progress`` gets a line per step.
    """
    say = progress or (lambda _line: None)
    new_name = check_name(name or f"{version}-merged")
    target = (out or version_dir(home, new_name) / MERGED_DIR).expanduser().absolute()
    parent = _check(home, version, new_name, target, dtype)
    # Every option is checked before the first byte is written or a model is loaded.
    torch, transformers, peft = _libraries()
    if gguf is not None:
        check_gguf_export(read_config(Path(parent.base_model)), gguf)
    quantization = check_quantize(quantize) if quantize is not None else None

    fresh_parent = not target.parent.exists()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.staging-{secrets.token_hex(4)}")
    exports: dict[str, str] = {"safetensors": str(target)}
    try:
        say(f"加载基础模型 {parent.base_model} 与适配器 {parent.adapter}")
        _merge_into(staging, parent, getattr(torch, dtype), transformers, peft)
        if gguf is not None:
            say(f"导出 GGUF（{gguf}）")
            file = export_gguf(staging, staging / f"{new_name}-{gguf}.gguf", gguf, name=new_name)
            exports["gguf"] = str(target / file.name)
        if quantization is not None:
            say(f"导出 {quantization.name} 量化模型（bitsandbytes）")
            _quantize(staging, staging / quantization.folder, quantization, transformers)
            exports[quantization.name] = str(target / quantization.folder)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if fresh_parent and not any(target.parent.iterdir()):
            target.parent.rmdir()
        raise
    merged = ModelVersion(
        name=new_name,
        kind="merged",
        base_model=parent.base_model,
        path=str(target),
        parent=parent.name,
        config={**parent.config, "merge": {"dtype": dtype, "gguf": gguf, "quantize": quantize}},
        data=list(parent.data),
        data_hash=parent.data_hash,
        metrics=dict(parent.metrics),
        exports=exports,
    )
    try:
        save_version(home, merged)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    say(f"已注册版本 {new_name}：{target}")
    return merged


def _merge_into(
    staging: Path, parent: ModelVersion, dtype: Any, transformers: Any, peft: Any
) -> None:
    """Load base + adapter on the CPU, fold the adapter in, save weights and tokenizer."""
    adapter = Path(parent.adapter or "")
    # Training may save the tokenizer (with its chat template) beside the adapter: prefer it.
    tokenizer_dir = (
        adapter if (adapter / "tokenizer_config.json").is_file() else Path(parent.base_model)
    )
    remote = bool(parent.config.get("trust_remote_code"))  # ChatGLM3, Baichuan2: as trained
    tokenizer = transformers.AutoTokenizer.from_pretrained(
        str(tokenizer_dir), local_files_only=True, trust_remote_code=remote
    )
    model = transformers.AutoModelForCausalLM.from_pretrained(
        parent.base_model,
        local_files_only=True,
        dtype=dtype,
        low_cpu_mem_usage=True,
        trust_remote_code=remote,
    )
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer))  # tokens added during training
    model = peft.PeftModel.from_pretrained(model, str(adapter), is_trainable=False)
    merged = model.merge_and_unload()
    merged.save_pretrained(str(staging), safe_serialization=True)
    tokenizer.save_pretrained(str(staging))


def _quantize(
    staging: Path, folder: Path, quantization: Quantization, transformers: Any
) -> None:  # pragma: no cover - needs CUDA and bitsandbytes
    """Reload the merged weights through bitsandbytes and save the quantised copy."""
    config = transformers.BitsAndBytesConfig(**quantization.options)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(staging), local_files_only=True, quantization_config=config, device_map="auto"
    )
    model.save_pretrained(str(folder), safe_serialization=True)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(staging), local_files_only=True)
    tokenizer.save_pretrained(str(folder))
