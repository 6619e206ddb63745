"""Server limits and defaults, with explicit named constants (read at the edge, passed down)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

from finassist.errors import ConfigError
from finassist.nlp.normalize import MAX_MESSAGE_CHARS

MODEL_NAME = "finassist"
DEFAULT_RATE_PER_MINUTE = 120
DEFAULT_BURST = 30
DEFAULT_MAX_BODY_BYTES = 1 << 20  # JSON requests
DEFAULT_MAX_UPLOAD_BYTES = 20 << 20  # knowledge-base documents
DEFAULT_MAX_MESSAGE_CHARS = MAX_MESSAGE_CHARS  # the one limit: the assistant enforces it too
DEFAULT_MAX_MESSAGES = 200
DEFAULT_MAX_PROMPT_CHARS = 64_000  # a whole conversation sent through to a configured model
DEFAULT_STREAM_CHUNK_CHARS = 12
ENV_PREFIX = "FINASSIST_SERVE_"


@dataclass(frozen=True)
class ServerOptions:
    """What the server allows: per-key rate limit, body sizes, message length, stream chunking.

    ``max_message_chars`` bounds the question asked of the assistant; ``max_prompt_chars`` the
    whole conversation sent through to a configured model.

    ``rate_per_minute`` requests per API key and minute, with bursts up to ``burst``; 0 turns the
    limit off. Each environment variable ``FINASSIST_SERVE_<FIELD>`` (e.g.
    ``FINASSIST_SERVE_RATE_PER_MINUTE=600``) overrides one field in :meth:`from_env`.
    """

    rate_per_minute: int = DEFAULT_RATE_PER_MINUTE
    burst: int = DEFAULT_BURST
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    max_message_chars: int = DEFAULT_MAX_MESSAGE_CHARS
    max_messages: int = DEFAULT_MAX_MESSAGES
    max_prompt_chars: int = DEFAULT_MAX_PROMPT_CHARS
    stream_chunk_chars: int = DEFAULT_STREAM_CHUNK_CHARS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerOptions:
        """Defaults overridden by ``FINASSIST_SERVE_*``; a non-integer is a :class:`ConfigError`."""
        env = os.environ if environ is None else environ
        values: dict[str, int] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None:
                continue
            try:
                values[f.name] = int(raw)
            except ValueError as exc:
                raise ConfigError(
                    f"环境变量 {ENV_PREFIX + f.name.upper()} 应为整数，实际为：{raw!r}"
                ) from exc
            if values[f.name] < 0:
                raise ConfigError(f"环境变量 {ENV_PREFIX + f.name.upper()} 不能为负数。")
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The environment that makes :meth:`from_env` rebuild these options (for workers)."""
        return {ENV_PREFIX + f.name.upper(): str(getattr(self, f.name)) for f in fields(self)}
