"""``create_app(settings)``: the FastAPI application (API, REST, metrics, static web UI).

    uvicorn.run(create_app(Settings.load()), host="127.0.0.1", port=8000)

``create_app_from_env`` is the factory ``finassist serve --workers N`` gives uvicorn: each worker
process reads the same settings (environment and file) and builds its app from them. The
assistant comes from :func:`finassist.runtime.build_runtime`, the builder ``ask`` and
``eval run`` use too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from finassist.assistant.session import SessionStore
from finassist.config import Settings
from finassist.runtime import Runtime, build_runtime
from finassist.serve.chat import ChatService
from finassist.serve.errors import install_error_handlers, install_openapi, reject_unknown_query
from finassist.serve.kb import KbBinding, KbService, kb_binding
from finassist.serve.keys import ApiKeyStore
from finassist.serve.limits import BodySizeLimit, UnicodeGuard
from finassist.serve.metrics import Metrics
from finassist.serve.options import ServerOptions
from finassist.serve.passthrough import ModelCatalog
from finassist.serve.ratelimit import RateLimiter
from finassist.serve.ratings import RatingStore
from finassist.serve.routes import enterprises, openai_api, sessions, system
from finassist.serve.routes import kb as kb_routes
from finassist.serve.state import ServerState
from finassist.serve.warmup import warm_up
from finassist.store import Database

STATIC_DIR = Path(__file__).with_name("static")
API_DESCRIPTION = (
    "finassist 供应链金融助手的 HTTP 接口：OpenAI 兼容的 /v1/chat/completions 与 /v1/models，"
    "以及 /api 下的会话、知识库、企业报告、评分、健康检查。除健康检查与指标外均需 API 密钥。"
)


def create_app(
    settings: Settings,
    *,
    options: ServerOptions | None = None,
    runtime: Runtime | None = None,
    db: Database | None = None,
    kb: KbService | None = None,
) -> FastAPI:
    """The application for ``settings``; the database must be at the newest schema version.

    With models configured (``[finassist.models]``) the assistant answers through them (the
    grounded path with the evidence guard), and each one can also be called by name.

    ``options`` replaces ``settings.server``; ``runtime`` a runtime built with fakes plugged in
    (``build_runtime(settings, backend=..., web=...)``); ``db`` and ``kb`` (a :class:`KbService`)
    replace single parts.
    """
    options = options or settings.server
    if runtime is None:
        seams = {"kb": kb.engine} if kb is not None else {}
        runtime = build_runtime(settings, db=db, **seams)
    db, assistant, router = runtime.db, runtime.assistant, runtime.llm
    assistant.max_message_chars = options.max_message_chars
    binding = KbBinding(kb) if kb is not None else kb_binding(runtime)
    metrics = Metrics()
    state = ServerState(
        settings=settings,
        options=options,
        db=db,
        assistant=assistant,
        chat=ChatService(assistant),
        keys=ApiKeyStore(db),
        sessions=SessionStore(db),
        ratings=RatingStore(db),
        limiter=RateLimiter(options.rate_per_minute, options.burst),
        metrics=metrics,
        kb=binding,
        models=ModelCatalog.build(settings, router),
    )
    metrics.watch(state.models.backends)  # per-variant counters of A/B models

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if binding.service is not None:
            binding.service.start()  # embeds what an earlier run left without vectors
        yield
        if binding.service is not None:
            binding.service.close()
        db.dispose()

    app = FastAPI(
        title="finassist",
        version="0.1.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(reject_unknown_query)],
    )
    app.state.server = state
    install_error_handlers(app)
    app.middleware("http")(metrics.middleware)
    if options.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=options.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_middleware(UnicodeGuard)
    app.add_middleware(
        BodySizeLimit,
        max_body_bytes=options.max_body_bytes,
        max_upload_bytes=options.max_upload_bytes,
    )
    for module in (openai_api, sessions, kb_routes, enterprises, system):
        app.include_router(module.router)

    install_openapi(app, max_message_chars=options.max_message_chars)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")

    return app


def create_app_from_env() -> FastAPI:
    """The app built from the settings alone (uvicorn's ``factory`` for worker processes),
    warmed up before it takes requests (see ``serve/warmup.py``)."""
    app = create_app(Settings.load())
    warm_up(app.state.server.assistant)
    return app
