"""The ``finassist`` command.

Settings are read here, at the edge, and passed down. Every :class:`FinassistError` is printed
as its Chinese message with exit code 1; an unexpected error is logged to a file and reported in
one line with exit code 2. A user never sees a traceback.
"""

from __future__ import annotations

import sys
import traceback
from datetime import datetime
from pathlib import Path

import typer
from rich.markup import escape

from finassist.cli import chat, data, db, evaluate, kb, models, nlp, report, serve, train
from finassist.cli.common import err_console
from finassist.config import home_hint
from finassist.errors import FinassistError, SchemaVersionError

app = typer.Typer(
    help="finassist：中文金融助手（供应链金融问答、知识库、模型、数据与评测）。",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(db.db_app, name="db")
data.data_app.command("export-ratings")(serve.export_ratings)
app.add_typer(data.data_app, name="data")
app.add_typer(kb.kb_app, name="kb")
app.add_typer(nlp.nlp_app, name="nlp")
app.command()(chat.ask)
app.command()(chat.chat)
app.command()(chat.demo)
app.command()(serve.serve)
app.command()(report.report)
app.add_typer(serve.keys_app, name="keys")
app.add_typer(evaluate.eval_app, name="eval")
app.add_typer(models.models_app, name="models")
app.add_typer(train.train_app, name="train")


def _log_crash(exc: BaseException) -> Path:
    """Write the traceback of an unexpected error where the user can send it to us."""
    log_dir = home_hint() / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "error.log"
    with path.open("a", encoding="utf-8") as fh:
        fh.write(f"--- {datetime.now().isoformat()} {' '.join(sys.argv)}\n")
        fh.write("".join(traceback.format_exception(exc)))
    return path


def main() -> None:
    """Console-script entry point: errors become a message, never a traceback."""
    try:
        app()
    except FinassistError as exc:
        err_console.print(f"[red]错误：[/]{escape(str(exc))}")
        if isinstance(exc, SchemaVersionError):
            err_console.print("[dim]提示：finassist db init 会创建或升级数据库结构。[/]")
        sys.exit(exc.exit_code)
    except Exception as exc:
        path = _log_crash(exc)
        err_console.print(
            f"[red]内部错误：[/]{escape(type(exc).__name__)}。详细信息已写入 {path}，"
            "请将该文件发给维护人员。"
        )
        sys.exit(2)


if __name__ == "__main__":
    main()
