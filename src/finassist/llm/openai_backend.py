"""Any OpenAI-compatible endpoint (vLLM, Ollama, LMDeploy, SGLang, DeepSeek, Kimi, OpenAI).

Built on the official ``openai`` SDK with its own retries switched off: we retry 429 and 5xx
ourselves with exponential backoff (honouring a short ``Retry-After``), and fail fast on a
timeout or a refused connection so that the router can move on to the next backend. Every SDK
error becomes a :class:`~finassist.llm.types.ModelError` whose Chinese message names the fix.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from finassist.config import ModelConfig, Settings, read_secret
from finassist.errors import ConfigError
from finassist.llm.registry import register_backend
from finassist.llm.types import (
    ChatResponse,
    Message,
    ModelAuthError,
    ModelError,
    ModelNotFound,
    ModelResponseError,
    ModelUnavailable,
    StreamChunk,
    ToolCall,
)

BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 8.0
NO_KEY = "EMPTY"  # vLLM, Ollama and LMDeploy accept any key; the SDK insists on one


class OpenAIBackend:
    """Chat with one model of an OpenAI-compatible service."""

    def __init__(
        self,
        name: str,
        *,
        base_url: str,
        model: str,
        api_key: str = NO_KEY,
        api_key_env: str | None = None,
        timeout: float = 60.0,
        connect_timeout: float = 5.0,
        max_retries: int = 2,
        temperature: float = 0.2,
        max_tokens: int = 1024,
        backoff_base: float = BACKOFF_BASE_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import openai  # the SDK is light; imported here so the module itself stays cheap

        self.name = name
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.timeout = timeout
        self.max_retries = max_retries
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.backoff_base = backoff_base
        self._sleep = sleep
        self._openai = openai
        self._client = openai.OpenAI(
            base_url=self.base_url,
            api_key=api_key,
            timeout=openai.Timeout(timeout, connect=connect_timeout),
            max_retries=0,
        )

    # -- protocol --------------------------------------------------------------------------------

    def chat(
        self, messages: list[Message], *, tools: list[dict[str, Any]] | None = None
    ) -> ChatResponse:
        """One request, the whole answer."""
        response = self._call(self._request(messages, tools, stream=False))
        try:
            choice = response.choices[0]
            message = choice.message
            calls = tuple(
                ToolCall(c.id or f"call_{i}", c.function.name, c.function.arguments or "{}")
                for i, c in enumerate(message.tool_calls or [])
            )
            usage = response.usage.model_dump() if response.usage else {}
        except (AttributeError, IndexError, TypeError) as exc:
            raise ModelResponseError(
                f"模型服务 {self.base_url} 的应答缺少 choices/message，不像 OpenAI 兼容接口。"
            ) from exc
        return ChatResponse(
            message.content or "",
            calls,
            response.model or self.model,
            choice.finish_reason,
            {k: v for k, v in usage.items() if isinstance(v, int)},
        )

    def stream(
        self, messages: list[Message], *, tools: list[dict[str, Any]] | None = None
    ) -> Iterator[StreamChunk]:
        """Text deltas as they come; tool-call deltas are joined and given in the last chunk."""
        stream = self._call(self._request(messages, tools, stream=True))
        calls: dict[int, dict[str, str]] = {}
        reason: str | None = None
        model = self.model
        try:
            with stream:
                for chunk in stream:
                    model = getattr(chunk, "model", None) or model
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    delta = choice.delta
                    reason = choice.finish_reason or reason
                    for part in (delta.tool_calls if delta else None) or []:
                        slot = calls.setdefault(part.index, {"id": "", "name": "", "args": ""})
                        slot["id"] = part.id or slot["id"]
                        if part.function is not None:
                            slot["name"] += part.function.name or ""
                            slot["args"] += part.function.arguments or ""
                    if delta and delta.content:
                        yield StreamChunk(text=delta.content)
        except json.JSONDecodeError as exc:
            raise ModelResponseError(
                f"模型服务 {self.base_url} 在流式应答中发来了无法解析的数据：{exc.doc[:120]!r}"
            ) from exc
        except self._openai.APITimeoutError as exc:
            raise self._timeout_error() from exc
        except (self._openai.APIError, OSError) as exc:
            raise ModelUnavailable(f"模型服务 {self.base_url} 的流式应答中断：{exc}") from exc
        tool_calls = tuple(
            ToolCall(c["id"] or f"call_{i}", c["name"], c["args"] or "{}")
            for i, c in sorted(calls.items())
        )
        yield StreamChunk(tool_calls=tool_calls, finish_reason=reason, model=model)

    # -- internals -------------------------------------------------------------------------------

    def _request(
        self, messages: list[Message], tools: list[dict[str, Any]] | None, *, stream: bool
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [m.to_openai() for m in messages],
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "stream": stream,
        }
        if tools:
            request["tools"] = tools
        return request

    def _call(self, request: dict[str, Any]) -> Any:
        oa = self._openai
        attempt = 0
        while True:
            try:
                return self._client.chat.completions.create(**request)
            except oa.APITimeoutError as exc:
                raise self._timeout_error() from exc
            except oa.APIConnectionError as exc:
                raise ModelUnavailable(
                    f"无法连接模型服务 {self.base_url}：请确认地址正确（通常以 /v1 结尾）、"
                    "服务已启动且本机可以访问。"
                ) from exc
            except oa.APIStatusError as exc:
                status = exc.status_code
                if (status == 429 or status >= 500) and attempt < self.max_retries:
                    self._sleep(self._delay(attempt, exc.response))
                    attempt += 1
                    continue
                raise self._status_error(status, exc, attempt) from exc
            except json.JSONDecodeError as exc:
                raise ModelResponseError(
                    f"模型服务 {self.base_url} 的应答不是合法的 JSON，请确认它是 OpenAI 兼容接口。"
                ) from exc

    def _delay(self, attempt: int, response: Any) -> float:
        delay = self.backoff_base * (2**attempt)
        header = response.headers.get("retry-after") if response is not None else None
        if header:
            with contextlib.suppress(ValueError):
                delay = max(delay, float(header))
        return min(delay, BACKOFF_MAX_S)

    def _timeout_error(self) -> ModelUnavailable:
        return ModelUnavailable(
            f"模型服务 {self.base_url} 在 {self.timeout:g} 秒内没有响应（模型 {self.model}）。"
            "请稍后重试，或在配置中调大 timeout。"
        )

    def _status_error(self, status: int, exc: Exception, attempts: int) -> ModelError:
        detail = _server_message(exc)
        if status in (401, 403):
            where = f"环境变量 {self.api_key_env} 中的" if self.api_key_env else "配置的"
            return ModelAuthError(
                f"模型服务 {self.base_url} 拒绝了{where} API 密钥（HTTP {status}）。"
                f"请检查密钥是否正确、是否过期或余额不足。{detail}"
            )
        if status == 404:
            return ModelNotFound(
                f"模型服务 {self.base_url} 上找不到模型「{self.model}」或接口地址（HTTP 404）。"
                f"请核对 model 名称（可访问 {self.base_url}/models 查看），"
                f"以及 base_url 是否以 /v1 结尾。{detail}"
            )
        if status == 429:
            return ModelUnavailable(
                f"模型服务 {self.base_url} 请求过于频繁（HTTP 429），重试 {attempts} 次后仍失败。"
                f"{detail}"
            )
        if status >= 500:
            return ModelUnavailable(
                f"模型服务 {self.base_url} 出错（HTTP {status}），重试 {attempts} 次后仍失败。{detail}"
            )
        return ModelError(f"模型服务 {self.base_url} 拒绝了请求（HTTP {status}）。{detail}")


def _server_message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        message = body.get("message") or (body.get("error") or {}).get("message")
        if message:
            return f"服务端说明：{message}"
    return ""


@register_backend("openai")
def from_config(name: str, config: ModelConfig, settings: Settings | None = None) -> OpenAIBackend:
    """Build from a ``[finassist.models.NAME]`` entry; the key is read from ``api_key_env``."""
    if not config.base_url:
        raise ConfigError(f"模型 {name} 缺少 base_url，例如 http://127.0.0.1:8000/v1。")
    if not config.model:
        raise ConfigError(f"模型 {name} 缺少 model（服务端的模型名称）。")
    api_key = NO_KEY
    if config.api_key_env:
        api_key = read_secret(config.api_key_env)
        if not api_key:
            raise ConfigError(
                f"模型 {name} 的 API 密钥应放在环境变量 {config.api_key_env} 中，但它未设置。"
                f"请执行 export {config.api_key_env}=你的密钥。"
            )
    return OpenAIBackend(
        name,
        base_url=config.base_url,
        model=config.model,
        api_key=api_key,
        api_key_env=config.api_key_env,
        timeout=config.timeout,
        connect_timeout=config.connect_timeout,
        max_retries=config.max_retries,
        temperature=config.temperature,
        max_tokens=config.max_tokens,
    )
