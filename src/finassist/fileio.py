"""Writing files so that a crash never leaves half of one behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from finassist.errors import ConfigError


def write_atomic(path: Path, content: bytes | str) -> None:
    """Write ``content`` to ``path`` via a temporary file in the same folder and a rename.

    Readers see the old file or the whole new one, never a part; a failure removes the temp file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes the file private; a written artefact is for sharing
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_yaml_mapping(path: Path, what: str = "配置文件", *, empty: bool = False) -> dict[str, Any]:
    """The mapping at the top of the YAML file ``path`` (a recipe); :class:`ConfigError` naming
    the file when it is missing, unreadable or not a mapping. ``empty`` accepts an empty file."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{what}不存在：{path}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{what} {path} 无法解析：{exc}") from exc
    if data is None and empty:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} 的顶层应为映射（键: 值）")
    return data
