"""Files: writing so that a crash never leaves half of one behind; reading text in the
encodings Chinese tools write (UTF-8 with or without a BOM, GBK/GB18030, Big5, UTF-16).

>>> detect_encoding("应收账款".encode("gbk"))
'gb18030'
>>> decode_text("\ufeff保理".encode("utf-8"), "a.txt")
'保理'
"""

from __future__ import annotations

import codecs
import os
import tempfile
from pathlib import Path
from typing import Any

from finassist.errors import ConfigError, InvalidInput

SNIFF_BYTES = 256 * 1024  # how much of a file the encoding is judged on
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16: its BOM starts with UTF-16 LE's
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Big5 bytes always decode as GB18030 too, so Big5 is taken from charset-normalizer, but only on
# enough text: on a few characters it names Big5, cp949 or Shift-JIS for plain GBK.
_BIG5_MIN_BYTES = 1024


class UnknownEncoding(InvalidInput):
    """A file's bytes fit none of the encodings we read; the message names the file."""


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


def _mostly(head: bytes, encoding: str, complete: bool) -> bool:
    """True when ``head`` decodes in ``encoding`` but for a few broken bytes, fewer than the
    characters it decodes well: a UTF-8 file with a few bad bytes is still UTF-8, while GBK read
    as UTF-8 breaks on nearly every character. Unless ``complete``, a character cut at the end of
    the sniffed bytes is fine."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    text = decoder.decode(head, final=complete)
    bad = text.count("\ufffd")
    if bad == 0:
        return True
    good = len(text) - len(text.encode("ascii", "ignore")) - bad  # well decoded non-ASCII
    return bad <= max(3, len(head) // 1000) and good > bad


def guess_encoding(head: bytes, *, complete: bool = False) -> str | None:
    """The encoding of a file from its first bytes (up to :data:`SNIFF_BYTES`; ``complete``: they
    are the whole file), None when no encoding fits (binary data). UTF-8 and GB18030 (the
    superset of GBK/GB2312) are tried before charset-normalizer, which misjudges short Chinese
    text."""
    complete = complete and len(head) <= SNIFF_BYTES
    head = head[:SNIFF_BYTES]
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    if _mostly(head, "utf-8", complete):
        return "utf-8"
    from charset_normalizer import from_bytes

    best = from_bytes(head).best()
    found = best.encoding if best is not None else None
    if _mostly(head, "gb18030", complete):
        return "big5" if found == "big5" and len(head) >= _BIG5_MIN_BYTES else "gb18030"
    return found


def detect_encoding(head: bytes) -> str:
    """Like :func:`guess_encoding`, but ``gb18030`` when nothing fits: for a stream read row by
    row, whose undecodable rows are reported one by one (exports from Chinese Windows are GBK)."""
    return guess_encoding(head) or "gb18030"


def decode_text(data: bytes, where: str) -> str:
    """The text of a whole file's bytes in its detected encoding (a rare broken byte becomes
    U+FFFD); :class:`UnknownEncoding` naming ``where`` when no encoding fits."""
    encoding = guess_encoding(data, complete=True)
    if encoding is None:
        raise UnknownEncoding(f"文件 {where} 的编码无法识别，请转换为 UTF-8 后重试。")
    return data.decode(encoding, errors="replace")
