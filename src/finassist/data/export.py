"""Stage 12: export formats (a registry of converters) and the LLaMA-Factory dataset_info.json.

Files are written under a staging directory and moved into place only when the whole build
succeeded, so an interrupted build never leaves a half-written dataset.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from finassist.data.mix import SPLITS
from finassist.data.records import Sample
from finassist.errors import ConfigError


def _pairs(sample: Sample) -> list[tuple[str, str]]:
    """(user, assistant) turns; the messages alternate and start with the user."""
    msgs = sample.messages
    return [(msgs[i]["content"], msgs[i + 1]["content"]) for i in range(0, len(msgs) - 1, 2)]


def to_sharegpt(sample: Sample) -> dict[str, Any]:
    names = {"user": "human", "assistant": "gpt"}
    record: dict[str, Any] = {
        "conversations": [
            {"from": names[m["role"]], "value": m["content"]} for m in sample.messages
        ]
    }
    if sample.system:
        record["system"] = sample.system
    return record


def to_alpaca(sample: Sample) -> dict[str, Any]:
    pairs = _pairs(sample)
    record: dict[str, Any] = {"instruction": pairs[-1][0], "input": "", "output": pairs[-1][1]}
    if sample.system:
        record["system"] = sample.system
    if len(pairs) > 1:
        record["history"] = [list(p) for p in pairs[:-1]]
    return record


def to_openai(sample: Sample) -> dict[str, Any]:
    system = [{"role": "system", "content": sample.system}] if sample.system else []
    return {
        "messages": [
            *system,
            *({"role": m["role"], "content": m["content"]} for m in sample.messages),
        ]
    }


@dataclass(frozen=True)
class Format:
    """An export format: its converter and how LLaMA-Factory reads its files."""

    name: str
    convert: Callable[[Sample], dict[str, Any]]
    dataset_info: dict[str, Any]


FORMATS: dict[str, Format] = {
    "sharegpt": Format(
        "sharegpt",
        to_sharegpt,
        {
            "formatting": "sharegpt",
            "columns": {"messages": "conversations", "system": "system"},
            "tags": {
                "role_tag": "from",
                "content_tag": "value",
                "user_tag": "human",
                "assistant_tag": "gpt",
            },
        },
    ),
    "alpaca": Format(
        "alpaca",
        to_alpaca,
        {
            "formatting": "alpaca",
            "columns": {
                "prompt": "instruction",
                "query": "input",
                "response": "output",
                "system": "system",
                "history": "history",
            },
        },
    ),
    "openai": Format(
        "openai",
        to_openai,
        {
            "formatting": "sharegpt",
            "columns": {"messages": "messages"},
            "tags": {
                "role_tag": "role",
                "content_tag": "content",
                "user_tag": "user",
                "assistant_tag": "assistant",
                "system_tag": "system",
            },
        },
    ),
}


def check_formats(names: tuple[str, ...]) -> None:
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise ConfigError(
            f"未知或为空的导出格式：{', '.join(unknown) or '（空）'}。可选：{', '.join(FORMATS)}"
        )


class DatasetWriter:
    """Writes samples to ``<format>/<split>.jsonl`` plus ``samples.jsonl`` (id, split, kind,
    group, weight, meta of every sample) in a staging directory; :meth:`commit` moves them
    into ``out``."""

    def __init__(self, out: Path, formats: tuple[str, ...]) -> None:
        check_formats(formats)
        self.out = out
        self.formats = formats
        out.mkdir(parents=True, exist_ok=True)
        self.staging = out / f".staging-{os.getpid()}"
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir()
        self._files: dict[tuple[str, str], IO[str]] = {}
        for fmt in formats:
            (self.staging / fmt).mkdir()
            for split in SPLITS:
                self._files[fmt, split] = (self.staging / fmt / f"{split}.jsonl").open(
                    "w", encoding="utf-8"
                )
        self._manifest = (self.staging / "samples.jsonl").open("w", encoding="utf-8")
        self.counts: dict[str, dict[str, int]] = {s: {} for s in SPLITS}

    def write(self, sample: Sample, split: str) -> None:
        for fmt in self.formats:
            record = FORMATS[fmt].convert(sample)
            self._files[fmt, split].write(json.dumps(record, ensure_ascii=False) + "\n")
        manifest = {
            "id": sample.id,
            "split": split,
            "kind": sample.kind,
            "group": sample.group,
            "weight": sample.weight,
            "meta": sample.meta,
        }
        self._manifest.write(json.dumps(manifest, ensure_ascii=False) + "\n")
        by_kind = self.counts[split]
        by_kind[sample.kind] = by_kind.get(sample.kind, 0) + 1

    def add_file(self, name: str, content: str) -> None:
        """Another file to publish with the dataset (report, clusters)."""
        (self.staging / name).write_text(content, encoding="utf-8")

    def dataset_info(self, prefix: str = "finassist") -> dict[str, Any]:
        """LLaMA-Factory ``dataset_info.json`` entries: ``<prefix>_<format>_<split>``."""
        info: dict[str, Any] = {}
        for fmt in self.formats:
            for split in SPLITS:
                info[f"{prefix}_{fmt}_{split}"] = {
                    "file_name": f"{fmt}/{split}.jsonl",
                    **FORMATS[fmt].dataset_info,
                }
        return info

    def _close(self) -> None:
        for fh in self._files.values():
            fh.close()
        self._manifest.close()

    def commit(self) -> list[Path]:
        """Close the files and move everything into ``out`` (replacing an earlier build's)."""
        self._close()
        self.add_file(
            "dataset_info.json", json.dumps(self.dataset_info(), ensure_ascii=False, indent=2)
        )
        moved: list[Path] = []
        for path in sorted(self.staging.rglob("*")):
            if path.is_file():
                target = self.out / path.relative_to(self.staging)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
                moved.append(target)
        shutil.rmtree(self.staging, ignore_errors=True)
        return moved

    def abort(self) -> None:
        """Remove the staging directory (after an error): ``out`` is left as it was."""
        self._close()
        shutil.rmtree(self.staging, ignore_errors=True)
