"""A local transformers model (optionally with a PEFT/LoRA adapter) behind the chat protocol.

Everything is read from local directories: nothing is downloaded. torch, transformers and peft
are the optional extra ``train`` and are imported only when a model is loaded. Tool calls use
the chat template when it knows tools (Qwen2.5 style ``<tool_call>{...}</tool_call>``);
otherwise the tools are described in the system prompt and the model is asked for one line of
JSON (``{"tool_calls": [{"name": ..., "arguments": {...}}]}``).
"""

from __future__ import annotations

import json
import re
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from finassist.config import ModelConfig, Settings
from finassist.llm.registry import register_backend
from finassist.llm.types import (
    ChatResponse,
    Message,
    MissingExtra,
    ModelError,
    ModelNotFound,
    StreamChunk,
    ToolCall,
)

EXTRA_HINT = "请安装可选依赖：pip install 'finassist[train]'（含 torch、transformers、peft）。"
_TOOL_CALL = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)
_TAG = "<tool_call>"
JSON_TOOL_PROMPT = (
    "你可以调用以下工具（JSON Schema）：\n{tools}\n"
    '如需调用工具，请只输出一行 JSON：{{"tool_calls": [{{"name": 工具名, "arguments": {{参数}}}}]}}，'
    "不要输出其他文字；不需要工具时直接用中文回答。"
)


def _require() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise MissingExtra(f"本地模型后端（hf）缺少依赖 {exc.name}。{EXTRA_HINT}") from exc
    return torch, transformers


@contextmanager
def quiet_loading(*loggings: Any) -> Iterator[None]:
    """No progress bars or library deprecation notes while a model loads (a chat or a server
    log shows the answer, not ``Loading weights``). ``loggings`` are the libraries' logging
    modules (``transformers.utils.logging``, ``datasets.utils.logging``); each bar setting is
    restored after."""
    switches = [(m, m.is_progress_bar_enabled()) for m in loggings]
    for module, _ in switches:
        module.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        for module, was_on in switches:
            if was_on:
                module.enable_progress_bar()


def parse_tool_calls(text: str, *, json_mode: bool) -> tuple[str, tuple[ToolCall, ...]]:
    """Split generated text into the answer and the tool calls it contains."""
    calls: list[dict[str, Any]] = []
    for block in _TOOL_CALL.findall(text):
        try:
            calls.append(json.loads(block))
        except json.JSONDecodeError:
            continue
    content = _TOOL_CALL.sub("", text).strip()
    if not calls and json_mode and content.startswith("{"):
        try:
            data = json.loads(content)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("tool_calls"), list):
            calls, content = data["tool_calls"], ""
    tool_calls = tuple(
        ToolCall(
            f"call_{i}",
            str(c.get("name", "")),
            json.dumps(c.get("arguments") or {}, ensure_ascii=False),
        )
        for i, c in enumerate(calls)
        if isinstance(c, dict) and c.get("name")
    )
    return content, tool_calls


def answer_prefix(text: str, *, json_mode: bool) -> str:
    """The part of text still being generated that is surely answer, not a tool call: the text
    before any ``<tool_call>`` (or what may become one), without surrounding blanks, so it is a
    prefix of what :func:`parse_tool_calls` will return as the answer. In JSON mode a text that
    starts with ``{`` may be a call and is held back whole.

    >>> answer_prefix("您好，我来查一下。<tool_c", json_mode=False)
    '您好，我来查一下。'
    >>> answer_prefix('  {"tool_calls": [', json_mode=True)
    ''
    """
    head = text.lstrip()
    if json_mode and (not head or head.startswith("{")):
        return ""
    cut = head.find(_TAG)
    if cut < 0:  # hold back a tail that may be the start of a tag
        cut = next(
            (
                i
                for i in range(max(len(head) - len(_TAG), 0), len(head))
                if _TAG.startswith(head[i:])
            ),
            len(head),
        )
    return head[:cut].rstrip()


class HFBackend:
    """Generate with a local causal LM; ``warm_up()`` loads it (done on first use)."""

    def __init__(
        self,
        name: str,
        *,
        path: str | Path,
        adapter: str | Path | None = None,
        max_new_tokens: int = 512,
        temperature: float = 0.0,
        device: str | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        self.name = name
        self.path = Path(path).expanduser()
        self.adapter = Path(adapter).expanduser() if adapter else None
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.device = device
        self.trust_remote_code = trust_remote_code
        self.model: Any = None
        self.tokenizer: Any = None
        self._torch: Any = None

    # -- loading -----------------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load the tokenizer, the model and the adapter (once)."""
        if self.model is not None:
            return
        torch, transformers = _require()
        if not (self.path / "config.json").is_file():
            raise ModelNotFound(
                f"本地模型目录 {self.path} 不存在或缺少 config.json。请把 path 指向已下载的模型目录。"
            )
        if self.adapter is not None and not (self.adapter / "adapter_config.json").is_file():
            raise ModelNotFound(
                f"LoRA 适配器目录 {self.adapter} 不存在或缺少 adapter_config.json。"
            )
        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        with quiet_loading(transformers.utils.logging):
            tokenizer, model = self._load(torch, transformers, device)
        if not getattr(tokenizer, "chat_template", None):
            raise ModelError(f"模型 {self.path} 的分词器没有对话模板（chat_template）。")
        self._torch, self.tokenizer = torch, tokenizer
        self.model = model.to(device).eval()

    def _load(self, torch: Any, transformers: Any, device: str) -> tuple[Any, Any]:
        try:
            # A trained adapter carries the tokenizer and chat template it was trained with.
            adapter_tokenizer = self.adapter is not None and (
                (self.adapter / "tokenizer_config.json").is_file()
            )
            tokenizer = transformers.AutoTokenizer.from_pretrained(
                str(self.adapter if adapter_tokenizer else self.path),
                local_files_only=True,
                trust_remote_code=self.trust_remote_code,
            )
            model = transformers.AutoModelForCausalLM.from_pretrained(
                str(self.path),
                local_files_only=True,
                trust_remote_code=self.trust_remote_code,
                dtype=torch.float32 if device == "cpu" else "auto",
            )
        except (OSError, ValueError) as exc:
            raise ModelError(f"无法加载本地模型 {self.path}：{exc}") from exc
        if self.adapter is not None:
            try:
                from peft import PeftModel
            except ImportError as exc:
                raise MissingExtra(f"加载 LoRA 适配器需要 peft。{EXTRA_HINT}") from exc
            model = PeftModel.from_pretrained(model, str(self.adapter), is_trainable=False)
        return tokenizer, model

    @property
    def template_knows_tools(self) -> bool:
        """Whether the chat template renders a ``tools`` list (else JSON prompting)."""
        self.warm_up()
        return "tools" in (self.tokenizer.chat_template or "")

    # -- prompting ---------------------------------------------------------------------------------

    def _prompt(
        self, messages: list[Message], tools: list[dict[str, Any]] | None
    ) -> tuple[Any, bool]:
        self.warm_up()
        native = bool(tools) and self.template_knows_tools
        json_mode = bool(tools) and not native
        chat = [_hf_message(m, native=native or not tools) for m in messages]
        if json_mode:
            described = json.dumps([t["function"] for t in tools or []], ensure_ascii=False)
            note = JSON_TOOL_PROMPT.format(tools=described)
            if chat and chat[0]["role"] == "system":
                chat[0] = {"role": "system", "content": chat[0]["content"] + "\n\n" + note}
            else:
                chat.insert(0, {"role": "system", "content": note})
        ids = self.tokenizer.apply_chat_template(
            chat,
            tools=tools if native else None,
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        )
        return ids, json_mode

    def _generate_kwargs(self, inputs: Any) -> dict[str, Any]:
        eos = [self.tokenizer.eos_token_id]
        im_end = self.tokenizer.convert_tokens_to_ids("<|im_end|>")
        if isinstance(im_end, int) and im_end != self.tokenizer.unk_token_id:
            eos.append(im_end)
        kwargs: dict[str, Any] = {
            "input_ids": inputs["input_ids"].to(self.model.device),
            "attention_mask": inputs["attention_mask"].to(self.model.device),
            "max_new_tokens": self.max_new_tokens,
            "eos_token_id": [e for e in eos if e is not None],
            "pad_token_id": self.tokenizer.pad_token_id or eos[0],
            "do_sample": self.temperature > 0,
        }
        if self.temperature > 0:
            kwargs["temperature"] = self.temperature
        return kwargs

    # -- protocol ----------------------------------------------------------------------------------

    def chat(
        self, messages: list[Message], *, tools: list[dict[str, Any]] | None = None
    ) -> ChatResponse:
        inputs, json_mode = self._prompt(messages, tools)
        with self._torch.inference_mode():
            output = self.model.generate(**self._generate_kwargs(inputs))
        new = output[0, inputs["input_ids"].shape[1] :]
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        content, calls = parse_tool_calls(text, json_mode=json_mode) if tools else (text, ())
        reason = "tool_calls" if calls else "stop"
        return ChatResponse(content, calls, self.name, reason, {"completion_tokens": len(new)})

    def stream(
        self, messages: list[Message], *, tools: list[dict[str, Any]] | None = None
    ) -> Iterator[StreamChunk]:
        """Text as generated. With tools, only the text that cannot be part of a call is given as
        it comes (see :func:`answer_prefix`); the calls come at the end."""
        from transformers import TextIteratorStreamer

        inputs, json_mode = self._prompt(messages, tools)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        failure: list[BaseException] = []

        def run() -> None:
            try:
                with self._torch.inference_mode():
                    self.model.generate(**self._generate_kwargs(inputs), streamer=streamer)
            except BaseException as exc:  # re-raised in the caller's thread below
                failure.append(exc)
                streamer.end()

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        pieces: list[str] = []
        sent = ""  # with tools: the text given so far, always a prefix of the final content
        for piece in streamer:
            pieces.append(piece)
            ready = (
                "".join(pieces)
                if not tools
                else answer_prefix("".join(pieces), json_mode=json_mode)
            )
            if len(ready) > len(sent):
                yield StreamChunk(text=ready[len(sent) :])
                sent = ready
        worker.join()
        if failure:
            raise ModelError(f"本地模型生成失败：{failure[0]}") from failure[0]
        if tools:
            content, calls = parse_tool_calls("".join(pieces), json_mode=json_mode)
            if content[len(sent) :]:
                yield StreamChunk(text=content[len(sent) :])
            yield StreamChunk(tool_calls=calls, finish_reason="tool_calls" if calls else "stop")
        else:
            yield StreamChunk(finish_reason="stop")


def _hf_message(message: Message, *, native: bool) -> dict[str, Any]:
    """A message as chat templates take it; without native tools, calls and results become text."""
    if message.role == "tool":
        if native:
            return {"role": "tool", "content": message.content}
        return {"role": "user", "content": f"工具结果：{message.content}"}
    if message.tool_calls:
        calls = [{"name": c.name, "arguments": c.parsed()} for c in message.tool_calls]
        if native:
            return {
                "role": "assistant",
                "content": message.content,
                "tool_calls": [{"type": "function", "function": c} for c in calls],
            }
        return {
            "role": "assistant",
            "content": json.dumps({"tool_calls": calls}, ensure_ascii=False),
        }
    return {"role": message.role, "content": message.content}


@register_backend("hf")
def from_config(name: str, config: ModelConfig, settings: Settings | None = None) -> HFBackend:
    if not config.path:
        raise ModelNotFound(f"模型 {name} 使用 hf 后端，需要 path 指向本地模型目录。")
    return HFBackend(
        name,
        path=config.path,
        adapter=config.adapter,
        max_new_tokens=config.max_tokens,
        temperature=config.temperature,
        trust_remote_code=config.trust_remote_code,
    )
