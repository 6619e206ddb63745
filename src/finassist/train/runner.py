"""One training run: checks, data, model, LoRA, TRL's SFTTrainer, adapter, version.

The order matters and is the point of this module:

1. everything a user can get wrong is checked before anything heavy is loaded (QLoRA without
   CUDA, a missing model folder, a name already taken, a half-finished run in the way);
2. the data is rendered and masked here (:mod:`finassist.train.data`) and handed to
   ``trl.SFTTrainer`` already tokenised (``input_ids`` + ``assistant_masks``); TRL builds the
   labels from the mask, packs with best-fit decreasing and flattens each batch padding-free
   (positions restart at every sample, so packed samples never see each other);
3. the adapter is written to a staging folder and renamed into place, and the version is
   registered last: a crash or Ctrl-C mid-run never leaves a version that looks finished.

The library is quiet (no progress bars, no printing); progress goes to the optional ``events``
callable, which the CLI renders. Under ``accelerate launch`` only the main process saves,
registers and reports.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finassist.errors import ConfigError, InvalidInput, NotFound
from finassist.fileio import write_atomic
from finassist.llm.hf import quiet_loading
from finassist.llm.types import MissingExtra, ModelError
from finassist.llm.versions import ModelVersion, find_version, save_version, version_dir
from finassist.train.config import TrainConfig
from finassist.train.data import DataStats, Encoded, data_hash, encode_pt, encode_sft
from finassist.train.formats import sft_files, text_files
from finassist.train.templates import apply_template

EXTRA_HINT = "请安装可选依赖：pip install 'finassist[train]'（torch、transformers、peft、trl、accelerate、datasets）。"
CHECKPOINTS = "checkpoints"
ADAPTER = "adapter"
METRICS = "metrics.json"
Events = Callable[[str, dict[str, Any]], None]
_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
VARLEN_ATTENTION = ("flash_attention_2", "flash_attention_3")


def micro_batches(config: TrainConfig) -> tuple[int, int]:
    """(rows per device step, gradient accumulation) for ``config``.

    Padding-free packing flattens a batch into one sequence. Only a varlen kernel (flash
    attention) keeps that linear; sdpa and eager build one block-diagonal mask over the whole
    flattened batch, quadratic in batch x max_length. Without one, each packed row is its own
    micro-batch: the same rows per optimiser step, the loss averaged over the same tokens,
    attention per row (measured on CPU at 4 rows of 1024: 2.5x the tokens/s, 0.4x the memory).
    """
    packed = config.packing and config.stage == "sft"
    if packed and config.attn_implementation not in VARLEN_ATTENTION:
        return 1, config.batch_size * config.grad_accum
    return config.batch_size, config.grad_accum


def require_train_extra() -> None:
    try:
        import accelerate  # noqa: F401
        import datasets  # noqa: F401
        import peft  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
        import trl  # noqa: F401
    except ImportError as exc:
        raise MissingExtra(f"训练缺少依赖 {exc.name}。{EXTRA_HINT}") from exc


def is_main_process() -> bool:
    """True in a single-process run and on rank 0 under ``accelerate launch``."""
    from accelerate import PartialState

    return PartialState().is_main_process


def resolve_precision(setting: bool | str) -> str:
    """``bf16`` | ``fp16`` | ``fp32``: ``auto`` is bf16 where the GPU has it, fp16 on older
    GPUs, fp32 on CPU."""
    import torch

    cuda = torch.cuda.is_available()
    if setting == "auto":
        if cuda:
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "fp32"
    if setting is True and cuda and not torch.cuda.is_bf16_supported():
        raise ConfigError("这块 GPU 不支持 bf16：请把 bf16 设为 auto（自动改用 fp16）或 false。")
    return "bf16" if setting is True else "fp32"


def check_run(config: TrainConfig) -> str:
    """Refuse what cannot work, before loading anything; the precision to train in."""
    require_train_extra()
    import torch

    if config.quantization:
        if not torch.cuda.is_available():
            raise ConfigError(
                f"QLoRA（quantization: {config.quantization}）需要 NVIDIA GPU（CUDA）和 bitsandbytes，"
                "当前机器没有可用的 CUDA。请删除 quantization 改用 LoRA，或在 GPU 机器上运行。"
            )
        try:
            import bitsandbytes  # noqa: F401
        except ImportError as exc:
            raise MissingExtra(
                "QLoRA 需要 bitsandbytes：pip install bitsandbytes（仅支持 CUDA）。"
            ) from exc
    model_dir = Path(config.model_path)
    if not (model_dir / "config.json").is_file():
        raise NotFound(
            f"基座模型目录 {model_dir} 不存在或缺少 config.json。请把 model_path 指向已下载到本地的"
            "模型目录（finassist 从不联网下载模型）。"
        )
    return resolve_precision(config.bf16)


def _load_tokenizer(config: TrainConfig) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(
            config.model_path, local_files_only=True, trust_remote_code=config.trust_remote_code
        )
    except (OSError, ValueError) as exc:
        raise ModelError(f"无法加载 {config.model_path} 的分词器：{exc}") from exc
    apply_template(tokenizer, config.template)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _load_model(config: TrainConfig, precision: str) -> Any:
    import torch
    import transformers

    kwargs: dict[str, Any] = {
        "local_files_only": True,
        "trust_remote_code": config.trust_remote_code,
        "dtype": getattr(torch, _DTYPES[precision]),
    }
    if config.attn_implementation:
        kwargs["attn_implementation"] = config.attn_implementation
    if config.quantization:
        from accelerate import PartialState

        compute = torch.bfloat16 if precision == "bf16" else torch.float16
        kwargs["dtype"] = compute
        kwargs["device_map"] = {"": PartialState().local_process_index}
        kwargs["quantization_config"] = (
            transformers.BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=compute,
            )
            if config.quantization == "4bit"
            else transformers.BitsAndBytesConfig(load_in_8bit=True)
        )
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(config.model_path, **kwargs)
    except (OSError, ValueError) as exc:
        raise ModelError(f"无法加载本地模型 {config.model_path}：{exc}") from exc
    if config.quantization:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=config.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    return model


def _files(config: TrainConfig) -> tuple[list[Path], list[Path]]:
    """Train files and evaluation files of the recipe (checked to exist)."""
    if config.stage == "sft":
        train, export_val = sft_files(config.data)
        if config.eval_data is None:
            return train, export_val
        return train, sft_files(config.eval_data, split="val")[0]
    return text_files(config.data), text_files(config.eval_data) if config.eval_data else []


def _encode(config: TrainConfig, tokenizer: Any, files: list[Path]) -> Encoded:
    if config.stage == "sft":
        return encode_sft(tokenizer, files, config.max_length)
    return encode_pt(tokenizer, files, config.max_length, config.text_field, packing=config.packing)


def _checkpointing(config: TrainConfig, fields: set[str]) -> dict[str, Any]:
    """Activation checkpointing arguments under the name this transformers version uses."""
    prefix = "activation" if "activation_checkpointing" in fields else "gradient"
    return {
        f"{prefix}_checkpointing": config.gradient_checkpointing,
        f"{prefix}_checkpointing_kwargs": {"use_reentrant": False},
    }


def _args(config: TrainConfig, output_dir: Path, precision: str, with_eval: bool) -> Any:
    import dataclasses

    import torch
    from trl import SFTConfig

    fields = {f.name for f in dataclasses.fields(SFTConfig)}
    rows, accumulation = micro_batches(config)
    return SFTConfig(
        output_dir=str(output_dir / CHECKPOINTS),
        # SFT rows are packed by TRL (best-fit decreasing, padding-free); PT rows are cut to
        # max_length already, so TRL only pads them.
        packing=config.packing and config.stage == "sft",
        packing_strategy="bfd",
        max_length=config.max_length,
        per_device_train_batch_size=rows,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=accumulation,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_ratio,
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        logging_steps=config.logging_steps,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        eval_strategy="steps" if with_eval else "no",
        eval_steps=config.eval_steps,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        **_checkpointing(config, fields),
        dataloader_pin_memory=torch.cuda.is_available(),
        # Every LoRA layer of a dense model takes part in each forward pass: DDP need not search.
        ddp_find_unused_parameters=False,
        seed=config.seed,
        data_seed=config.seed,
        report_to="none",
        disable_tqdm=True,
    )


def _relay(events: Events) -> Any:
    """A TrainerCallback that forwards progress to ``events`` (main process only)."""
    from transformers import TrainerCallback

    class Relay(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if state.is_world_process_zero:
                events("start", {"step": state.global_step, "max_steps": state.max_steps})

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if state.is_world_process_zero:
                events("step", {"step": state.global_step, "max_steps": state.max_steps})

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if state.is_world_process_zero and logs:
                events("log", {"step": state.global_step, "max_steps": state.max_steps, **logs})

    return Relay()


@dataclass
class Prepared:
    """A trainer ready to ``.train()`` and what went into it."""

    trainer: Any
    train: DataStats
    eval: DataStats | None
    precision: str


def prepare(config: TrainConfig, output_dir: Path, events: Events | None = None) -> Prepared:
    """Check, encode the data, load the model and build the trainer."""
    precision = check_run(config)
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import PrinterCallback
    from trl import SFTTrainer

    train_files, eval_files = _files(config)
    # The arguments come first: they set up the distributed state (accelerate launch) and,
    # under DeepSpeed ZeRO-3, sharded loading of the model.
    args = _args(config, output_dir, precision, bool(eval_files))
    tokenizer = _load_tokenizer(config)
    train = _encode(config, tokenizer, train_files)
    evaluation = _encode(config, tokenizer, eval_files) if eval_files else None
    if events is not None and args.process_index == 0:
        events(
            "data",
            {
                "stage": config.stage,
                "name": config.name,
                "model_path": config.model_path,
                "train": train.stats,
                "eval": evaluation.stats if evaluation else None,
            },
        )
    lora = LoraConfig(
        r=config.lora.r,
        lora_alpha=config.lora.alpha,
        lora_dropout=config.lora.dropout,
        target_modules=config.lora.target_modules,
        task_type="CAUSAL_LM",
    )
    from datasets.utils import logging as datasets_logging
    from transformers.utils import logging as transformers_logging

    with quiet_loading(datasets_logging, transformers_logging):
        model = _load_model(config, precision)
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_dict(train.columns()),
            eval_dataset=Dataset.from_dict(evaluation.columns()) if evaluation else None,
            processing_class=tokenizer,
            peft_config=lora,
            callbacks=[_relay(events)] if events is not None else None,
        )
    trainer.remove_callback(PrinterCallback)  # disable_tqdm adds it; the library does not print
    return Prepared(trainer, train.stats, evaluation.stats if evaluation else None, precision)


def build_trainer(config: TrainConfig, *, output_dir: Path | None = None) -> Any:
    """The ``trl.SFTTrainer`` for ``config``, ready to ``.train()`` (benchmarks time this)."""
    target = output_dir or (Path(config.output_dir) if config.output_dir else None)
    if target is None:
        raise InvalidInput("build_trainer 需要 output_dir（或配置中的 output_dir）。")
    return prepare(config, target).trainer


def output_dir_for(config: TrainConfig, home: Path) -> Path:
    """Where a run writes: ``output_dir``, else ``<home>/models/<name>`` (beside its version)."""
    if config.output_dir:
        return Path(config.output_dir).expanduser().resolve()
    return version_dir(home, config.name).resolve()


def _checkpoint(output_dir: Path, resume: bool) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    folder = output_dir / CHECKPOINTS
    last = get_last_checkpoint(str(folder)) if folder.is_dir() else None
    if resume and last is None:
        raise NotFound(f"没有找到可继续的检查点（{folder}）。去掉 --resume 重新开始训练。")
    if not resume and last is not None:
        raise InvalidInput(
            f"{folder} 中有上次未完成训练的检查点。加 --resume 从 {Path(last).name} 继续，"
            "或删除该目录后重新训练。"
        )
    return last


def _metrics(prepared: Prepared, result: Any, eval_loss: float | None, seconds: float) -> dict:
    state = prepared.trainer.state
    losses = [h["loss"] for h in state.log_history if "loss" in h]
    return {
        "train_loss": losses[-1] if losses else result.training_loss,
        "train_loss_first": losses[0] if losses else None,
        "train_loss_mean": result.training_loss,
        "eval_loss": eval_loss,
        "steps": state.global_step,
        "epochs": state.epoch,
        "train_rows": prepared.train.rows,
        "train_records": prepared.train.records,
        "truncated": prepared.train.truncated,
        "dropped": prepared.train.dropped,
        "train_tokens": prepared.train.tokens,
        "trained_tokens": prepared.train.trained_tokens,
        "runtime_s": round(seconds, 2),
        "precision": prepared.precision,
    }


def _final_eval_loss(trainer: Any) -> float | None:
    """The validation loss at the last step: logged already when the run ended on an eval step."""
    if trainer.eval_dataset is None:
        return None
    step = trainer.state.global_step
    for entry in reversed(trainer.state.log_history):
        if "eval_loss" in entry and entry.get("step") == step:
            return entry["eval_loss"]
    return trainer.evaluate()["eval_loss"]


def _publish_adapter(trainer: Any, output_dir: Path) -> Path:
    """Write the adapter (and tokenizer) to a staging folder, then rename it into place."""
    staging = output_dir / f".{ADAPTER}-staging"
    final = output_dir / ADAPTER
    main = trainer.accelerator.is_main_process
    if main:
        shutil.rmtree(staging, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(staging))  # collective under ZeRO-3 / FSDP; writes on rank 0
    if main:
        trainer.processing_class.save_pretrained(str(staging))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(staging, final)
    trainer.accelerator.wait_for_everyone()
    return final


def run_training(
    config: TrainConfig, home: Path, *, resume: bool = False, events: Events | None = None
) -> ModelVersion:
    """Train ``config`` and register the result as model version ``config.name``.

    ``resume`` continues from the last checkpoint in ``<output_dir>/checkpoints``; without it an
    existing version or a half-finished run under the same name is an error, never overwritten.
    """
    existing = find_version(home, config.name)
    if existing is not None and not resume:
        raise InvalidInput(
            f"已有名为 {config.name} 的模型版本（{version_dir(home, config.name)}）。"
            "请换一个 name（或用 --name），或加 --resume 在它的检查点上继续训练。"
        )
    output_dir = output_dir_for(config, home)
    checkpoint = _checkpoint(output_dir, resume)
    prepared = prepare(config, output_dir, events)
    trainer = prepared.trainer
    started = time.monotonic()
    result = trainer.train(resume_from_checkpoint=checkpoint)
    eval_loss = _final_eval_loss(trainer)
    adapter = _publish_adapter(trainer, output_dir)
    metrics = _metrics(prepared, result, eval_loss, time.monotonic() - started)
    train_files = [Path(f).resolve() for f in prepared.train.files]
    eval_files = [str(Path(f).resolve()) for f in (prepared.eval.files if prepared.eval else [])]
    version = ModelVersion(
        name=config.name,
        kind=config.stage,
        base_model=str(Path(config.model_path).resolve()),
        adapter=str(adapter),
        config=config.model_copy(
            update={"output_dir": str(output_dir), "eval_data": eval_files}
        ).to_json(),
        data=[str(f) for f in train_files],
        metrics=metrics,
    )
    if trainer.accelerator.is_main_process:
        version.data_hash = data_hash(train_files)
        write_atomic(output_dir / METRICS, json.dumps(metrics, ensure_ascii=False, indent=2))
        save_version(home, version)  # last: a registered version is a finished one
    return version
