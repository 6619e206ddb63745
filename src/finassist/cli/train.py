"""``finassist train sft | pt | merge``: LoRA fine-tuning from a YAML recipe, and merging.

Progress is printed here (rich); the training library itself stays quiet. The libraries'
own warnings and progress bars are silenced for the duration of a command.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from finassist.cli import common
from finassist.cli.common import console, err_console, progress_bar
from finassist.errors import InvalidInput

train_app = typer.Typer(
    help="微调：LoRA/QLoRA 指令微调（sft）、继续预训练（pt）、合并适配器（merge）。",
    no_args_is_help=True,
)
ConfigArg = Annotated[Path, typer.Argument(help="训练配置 YAML（示例见 configs/train/）")]
ResumeOpt = Annotated[
    bool, typer.Option("--resume", help="从输出目录 checkpoints/ 中最后一个检查点继续训练")
]
MaxStepsOpt = Annotated[
    int | None, typer.Option("--max-steps", min=1, help="最多训练多少步（覆盖配置中的 epochs）")
]
OutputDirOpt = Annotated[
    Path | None, typer.Option("--output-dir", help="输出目录（默认 $FINASSIST_HOME/models/版本名）")
]
NameOpt = Annotated[str | None, typer.Option("--name", help="版本名（覆盖配置中的 name）")]


@contextmanager
def _quiet(*, training: bool = True) -> Iterator[None]:
    """Silence the libraries' logging, warnings and progress bars (this process only)."""
    from finassist.train.runner import require_train_extra

    if training:
        require_train_extra()
        import datasets

        datasets.logging.set_verbosity_error()
        datasets.disable_progress_bars()
    try:
        import transformers
    except ImportError:
        pass  # the command itself names the missing extra
    else:
        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()  # the switch datasets' bars re-enable after loading
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


class _Reporter:
    """Renders the runner's events: data counts, a progress bar, loss lines."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: Any = None

    def __call__(self, kind: str, info: dict[str, Any]) -> None:
        getattr(self, f"on_{kind}", lambda _info: None)(info)

    def on_data(self, info: dict[str, Any]) -> None:
        console.print(
            f"开始{'指令微调' if info['stage'] == 'sft' else '继续预训练'}：版本 "
            f"{escape(info['name'])}，基座模型 {escape(info['model_path'])}"
        )
        for label, stats in (("训练", info["train"]), ("验证", info["eval"])):
            if stats is None:
                continue
            console.print(
                f"{label}数据：{stats.records:,} 条 → {stats.rows:,} 行，{stats.tokens:,} 个词元"
                f"（参与损失 {stats.trained_tokens:,}）；截断 {stats.truncated:,} 条，"
                f"丢弃 {stats.dropped:,} 条"
            )
        if info["eval"] is None:
            console.print("[dim]没有验证数据：训练中不做评估。[/]")

    def on_start(self, info: dict[str, Any]) -> None:
        if info["step"]:
            console.print(f"从第 {info['step']} 步的检查点继续训练")
        self.task = self.progress.add_task("训练", total=info["max_steps"], completed=info["step"])

    def on_step(self, info: dict[str, Any]) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=info["step"])

    def on_log(self, info: dict[str, Any]) -> None:
        step, total = info["step"], info["max_steps"]
        if "loss" in info:
            console.print(
                f"第 {step}/{total} 步  训练损失 {info['loss']:.4f}  学习率 {info.get('learning_rate', 0):.2e}"
            )
        if "eval_loss" in info:
            console.print(f"第 {step}/{total} 步  [cyan]验证损失 {info['eval_loss']:.4f}[/]")


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _train(
    stage: str,
    config: Path,
    resume: bool,
    max_steps: int | None,
    output_dir: Path | None,
    name: str | None,
) -> None:
    from finassist.train.config import load_config

    cfg = load_config(
        config,
        max_steps=max_steps,
        output_dir=str(output_dir.expanduser().resolve()) if output_dir else None,
        name=name,
    )
    if cfg.stage != stage:
        raise InvalidInput(
            f"配置 {config} 的 stage 是 {cfg.stage}，请用 finassist train {cfg.stage} {config}。"
        )
    settings = common.settings()
    with _quiet():
        from finassist.train.runner import is_main_process, run_training

        try:
            with progress_bar() as progress:
                version = run_training(
                    cfg, settings.home, resume=resume, events=_Reporter(progress)
                )
        except KeyboardInterrupt:
            err_console.print(
                "[yellow]训练已中断[/]，未注册版本。已保存的检查点可用同一命令加 --resume 继续。"
            )
            raise typer.Exit(130) from None
        if not is_main_process():
            return
    m = version.metrics
    table = Table(title=f"训练完成：版本 {escape(version.name)}")
    table.add_column("项目")
    table.add_column("值")
    rows = [
        ("适配器", version.adapter),
        ("步数 / 轮数", f"{m['steps']} / {m['epochs']:.2f}"),
        ("训练损失（首次 → 最后）", f"{_fmt(m['train_loss_first'])} → {_fmt(m['train_loss'])}"),
        ("验证损失", _fmt(m["eval_loss"])),
        ("训练词元", f"{m['train_tokens']:,}（参与损失 {m['trained_tokens']:,}）"),
        ("截断 / 丢弃", f"{m['truncated']} / {m['dropped']}"),
        ("精度", m["precision"]),
        ("用时", f"{m['runtime_s']:.1f} 秒"),
        ("数据哈希", version.data_hash[:16]),
    ]
    for key, value in rows:
        table.add_row(key, escape(str(value)))
    console.print(table)
    console.print(
        f'使用：finassist ask "问题" --model {version.name}；'
        f"合并：finassist train merge {version.name}；查看：finassist models show {version.name}"
    )


@train_app.command("sft")
def sft(
    config: ConfigArg,
    resume: ResumeOpt = False,
    max_steps: MaxStepsOpt = None,
    output_dir: OutputDirOpt = None,
    name: NameOpt = None,
) -> None:
    """指令微调（LoRA / QLoRA）：只在助手回复上计算损失，结果注册为模型版本。"""
    _train("sft", config, resume, max_steps, output_dir, name)


@train_app.command("pt")
def pt(
    config: ConfigArg,
    resume: ResumeOpt = False,
    max_steps: MaxStepsOpt = None,
    output_dir: OutputDirOpt = None,
    name: NameOpt = None,
) -> None:
    """继续预训练（LoRA）：在领域文本（知识库文档、研报）上训练，结果注册为模型版本。"""
    _train("pt", config, resume, max_steps, output_dir, name)


@train_app.command("merge")
def merge(
    version: Annotated[str, typer.Argument(help="要合并的版本名（finassist models list）")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="输出目录（默认 $FINASSIST_HOME/models/新版本名/merged）"),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="新版本名（默认 版本名-merged）")
    ] = None,
    dtype: Annotated[
        str, typer.Option("--dtype", help="权重精度：float16、bfloat16 或 float32")
    ] = "float16",
    gguf: Annotated[
        str | None, typer.Option("--gguf", help="另导出 GGUF 文件：f32、f16 或 q8_0")
    ] = None,
    quantize: Annotated[
        str | None,
        typer.Option("--quantize", help="另导出 bitsandbytes 量化模型：8bit 或 4bit（需 CUDA）"),
    ] = None,
) -> None:
    """把 LoRA 适配器合并进基座模型（safetensors），可选导出 GGUF 或 8/4 位量化模型。"""
    from finassist.train.merge import merge_version

    settings = common.settings()
    with _quiet(training=False):
        merged = merge_version(
            settings.home,
            version,
            out=out.expanduser().resolve() if out else None,
            name=name,
            dtype=dtype,
            gguf=gguf,
            quantize=quantize,
            progress=lambda line: err_console.print(escape(line)),
        )
    console.print(
        f"[green]已合并[/]：新版本 {escape(merged.name)}，模型目录 {escape(str(merged.path))}"
    )
    for kind, path in merged.exports.items():
        if kind != "safetensors":
            console.print(f"  {escape(kind)}：{escape(path)}")
