"""What every route shares, built once per app by ``create_app`` and reached via the request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from finassist.assistant import Assistant
from finassist.assistant.session import SessionStore
from finassist.config import Settings
from finassist.serve.chat import ChatService
from finassist.serve.errors import ApiError
from finassist.serve.kb import KbBinding, KbService
from finassist.serve.keys import ApiKeyStore, Principal
from finassist.serve.metrics import Metrics
from finassist.serve.options import ServerOptions
from finassist.serve.passthrough import ModelCatalog
from finassist.serve.ratelimit import RateLimiter, retry_after_header
from finassist.serve.ratings import RatingStore
from finassist.store import Database

bearer = HTTPBearer(auto_error=False, description="API 密钥（`finassist keys create` 创建）")


@dataclass
class ServerState:
    """The app's database, assistant, stores, limiter, metrics, knowledge base and models."""

    settings: Settings
    options: ServerOptions
    db: Database
    assistant: Assistant
    chat: ChatService
    keys: ApiKeyStore
    sessions: SessionStore
    ratings: RatingStore
    limiter: RateLimiter
    metrics: Metrics
    kb: KbBinding
    models: ModelCatalog

    def as_of(self) -> date:
        """'Today' for analytics (the assistant's)."""
        return self.assistant.as_of()

    def kb_service(self) -> KbService:
        """The knowledge base, or 501 with the reason it is not available."""
        if self.kb.service is None:
            raise ApiError(501, self.kb.reason, code="kb_unavailable")
        return self.kb.service


def get_state(request: Request) -> ServerState:
    """The :class:`ServerState` of the app handling ``request``."""
    return request.app.state.server  # type: ignore[no-any-return]


def require_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller of a valid key, within its rate limit: else 401 or 429 (with Retry-After)."""
    state = get_state(request)
    if credentials is None or not credentials.credentials:
        raise ApiError(
            401,
            "缺少 API 密钥：请在请求头 Authorization: Bearer <密钥> 中提供（管理员可用 `finassist keys create` 创建）。",
            code="missing_api_key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = state.keys.verify(credentials.credentials)
    if principal is None:
        raise ApiError(
            401,
            "API 密钥无效或已吊销，请检查密钥或向管理员申请新密钥。",
            code="invalid_api_key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    wait = state.limiter.acquire(principal.key_id)
    if wait > 0:
        seconds = retry_after_header(wait)
        raise ApiError(
            429,
            f"请求过于频繁：每个密钥每分钟最多 {state.options.rate_per_minute} 次，请 {seconds} 秒后重试。",
            code="rate_limit_exceeded",
            headers={"Retry-After": seconds},
        )
    request.state.principal = principal
    return principal


def require_admin(principal: Annotated[Principal, Depends(require_principal)]) -> Principal:
    """An admin's key, else 403."""
    if not principal.is_admin:
        raise ApiError(403, "此操作需要管理员密钥。", code="admin_required")
    return principal


Caller = Annotated[Principal, Depends(require_principal)]
"""A route parameter: the authenticated, rate-limited caller."""
Admin = Annotated[Principal, Depends(require_admin)]
"""A route parameter: an authenticated admin."""
