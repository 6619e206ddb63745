"""``finassist serve``, ``finassist keys create | list | revoke`` and the ratings export
(``export_ratings``, registered as ``finassist data export-ratings``).

Settings are read here and passed down; worker processes rebuild them from the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from finassist.cli import common
from finassist.cli.common import console
from finassist.errors import InvalidInput

keys_app = typer.Typer(
    help="API 密钥：创建、查看、吊销（密钥只保存哈希，创建时显示一次）。", no_args_is_help=True
)

HostOpt = Annotated[
    str | None, typer.Option("--host", help="监听地址（默认 127.0.0.1；对外提供服务用 0.0.0.0）")
]
PortOpt = Annotated[int | None, typer.Option("--port", min=0, max=65535, help="端口（默认 8000）")]


def run_server(
    host: str | None = None, port: int | None = None, workers: int | None = None
) -> None:
    """Create or upgrade the database, then run uvicorn with the app factory (one app per worker process).

    Each worker reads the same settings (environment and file) itself; ``host``, ``port`` and
    ``workers`` default to ``[finassist.server]``.
    """
    import uvicorn

    settings = common.settings()
    common.database(settings).ensure_schema()
    server = settings.server
    uvicorn.run(
        "finassist.serve.app:create_app_from_env",
        factory=True,
        host=host or server.host,
        port=server.port if port is None else port,
        workers=workers or server.workers,
        log_level="warning",
        timeout_graceful_shutdown=5,
    )


def serve(
    host: HostOpt = None,
    port: PortOpt = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, max=64, help="工作进程数（默认 1）")
    ] = None,
) -> None:
    """启动 HTTP 服务：OpenAI 兼容接口（/v1）、REST（/api）与网页界面（/）。"""
    server = common.settings().server
    host, port = host or server.host, server.port if port is None else port
    console.print(
        f"finassist 服务启动：http://{host}:{port}/ （OpenAI 兼容接口 http://{host}:{port}/v1，"
        "按 Ctrl+C 停止）"
    )
    run_server(host, port, workers)


@keys_app.command("create")
def keys_create(
    manager: Annotated[
        str | None, typer.Option("--manager", "-m", help="绑定的客户经理编号，如 M001")
    ] = None,
    admin: Annotated[
        bool, typer.Option("--admin", help="创建管理员密钥（绑定管理员账号）")
    ] = False,
    label: Annotated[str, typer.Option("--label", help="备注，例如使用的系统或终端")] = "",
) -> None:
    """创建一个 API 密钥（--manager ID 或 --admin）；密钥只显示这一次。"""
    if manager is None and not admin:
        raise InvalidInput(
            "请用 --manager 指定客户经理编号（如 M001），或用 --admin 创建管理员密钥。"
        )
    from finassist.serve.keys import ApiKeyStore

    db = common.database(common.settings())
    db.check_schema()
    created = ApiKeyStore(db).create(manager, admin=admin, label=label)
    role = "管理员" if created.role == "admin" else "客户经理"
    console.print(
        f"[green]已创建{role}密钥[/]（编号 {created.id}，绑定 {created.manager_id}）。请妥善保存，之后无法再次查看："
    )
    typer.echo(created.key)


@keys_app.command("list")
def keys_list() -> None:
    """列出所有密钥（不显示密钥本身）。"""
    from finassist.serve.keys import ApiKeyStore

    db = common.database(common.settings())
    db.check_schema()
    table = Table("编号", "绑定", "角色", "备注", "创建时间", "状态", title="API 密钥")
    for key in ApiKeyStore(db).list():
        status = f"已吊销（{key.revoked_at:%Y-%m-%d %H:%M}）" if key.revoked_at else "有效"
        role = "管理员" if key.role == "admin" else "客户经理"
        table.add_row(
            key.id, key.manager_id, role, key.label, f"{key.created_at:%Y-%m-%d %H:%M}", status
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="密钥编号（keys list 中的编号）")],
) -> None:
    """吊销一个密钥，立即生效。"""
    from finassist.serve.keys import ApiKeyStore

    db = common.database(common.settings())
    db.check_schema()
    ApiKeyStore(db).revoke(key_id)
    console.print(f"[green]已吊销密钥[/] {key_id}。")


def export_ratings(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="评测数据（JSONL，每行一个评分的回答）")
    ] = Path("ratings.jsonl"),
    pairs: Annotated[
        Path | None, typer.Option("--pairs", help="另存偏好对（JSONL：prompt/chosen/rejected）")
    ] = None,
) -> None:
    """导出员工评分：评测数据，以及同一问题不同评分的回答组成的偏好对。"""
    from finassist.serve.ratings import RatingStore, preference_pairs, write_jsonl

    db = common.database(common.settings())
    db.check_schema()
    records = list(RatingStore(db).rated_turns())
    write_jsonl(output, records)
    message = f"[green]已导出 {len(records)} 条评分[/]到 {output}"
    if pairs is not None:
        found = preference_pairs(records)
        write_jsonl(pairs, found)
        message += f"；偏好对 {len(found)} 条到 {pairs}"
    console.print(message + "。")
