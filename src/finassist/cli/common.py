"""What every command shares: consoles, options, settings and database at the edge, progress."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from finassist.config import Settings
from finassist.store import Database

console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # an error stays one greppable line

DEFAULT_MANAGER = "M001"
ManagerOpt = Annotated[
    str | None, typer.Option("--manager", "-m", help="以哪位客户经理的身份提问（默认 M001）")
]
SessionOpt = Annotated[str | None, typer.Option("--session", "-s", help="继续已有会话的编号")]


def settings() -> Settings:
    """Settings from the environment and the TOML file (read here, at the edge)."""
    return Settings.load()


def database(settings: Settings) -> Database:
    """The database the settings name."""
    return Database.from_settings(settings)


def manager_id(settings: Settings, manager: str | None) -> str:
    """The relationship manager to act as: the option, the setting, else the demo's M001."""
    return manager or settings.manager or DEFAULT_MANAGER


@contextmanager
def progress_bar() -> Iterator[Progress]:
    """A transient progress bar on stderr (stdout stays clean for --json)."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        yield progress


def seed_with_progress(db: Database, seed: int, scale: int) -> None:
    from finassist.store.seed import seed_database

    tasks: dict[str, int] = {}
    with progress_bar() as progress:

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        result = seed_database(db, seed=seed, scale=scale, progress=report)
    counts = "，".join(f"{k} {v:,}" for k, v in result.counts.items())
    console.print(
        f"[green]示例数据已生成[/]（数据日期 {result.as_of}，用时 {result.seconds:.1f} 秒）：{counts}"
    )
