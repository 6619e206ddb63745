"""Health, metrics, "who am I" and the web font: ``/api/health``, ``/metrics`` (and
``/api/metrics``), ``/api/me``, ``/fonts/cjk.ttf``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, PlainTextResponse
from sqlalchemy import text

from finassist.errors import FinassistError
from finassist.finance.charts.fonts import BUNDLED_FONT
from finassist.serve.errors import ApiError
from finassist.serve.options import MODEL_NAME
from finassist.serve.state import Caller, get_state

router = APIRouter(tags=["系统"])


@router.get("/api/health")
def health(request: Request) -> dict[str, Any]:
    """Liveness and readiness: 200 when the database answers, 503 otherwise (no key needed)."""
    state = get_state(request)
    try:
        with state.db.read() as conn:
            conn.execute(text("SELECT 1"))
    except FinassistError as exc:
        raise ApiError(503, f"数据库不可用：{exc}", code="database_unavailable") from exc
    return {
        "status": "ok",
        "model": MODEL_NAME,
        "database": state.db.dialect,
        "kb": state.kb.service is not None,
    }


@router.get("/metrics", include_in_schema=False)
@router.get("/api/metrics", response_class=PlainTextResponse)
def metrics(request: Request) -> Response:
    """Prometheus metrics of this server process (text exposition format)."""
    return get_state(request).metrics.render()


@router.get("/api/me")
def me(request: Request, principal: Caller) -> dict[str, Any]:
    """Who the key belongs to and what this server offers (the web UI's login check)."""
    state = get_state(request)
    return {
        "manager_id": principal.manager_id,
        "role": "admin" if principal.is_admin else "manager",
        "key_id": principal.key_id,
        "kb": state.kb.service is not None,
        "model": MODEL_NAME,
        "max_message_chars": state.options.max_message_chars,
    }


@router.get("/fonts/cjk.ttf", include_in_schema=False)
def cjk_font() -> FileResponse:
    """The bundled Chinese font, the web UI's fallback when the browser's machine has none."""
    return FileResponse(
        BUNDLED_FONT, media_type="font/ttf", headers={"Cache-Control": "public, max-age=86400"}
    )
