"""The Chinese font for matplotlib (charts), the HTML/PDF report and the web UI.

finassist ships its own font (``finassist/fonts``: a subset of WenQuanYi Micro Hei, Apache-2.0,
covering GB2312 and every character in the package's own texts), so charts and pages need
nothing outside pip. A Noto Sans CJK or Source Han Sans that the system already has is used
first (it covers every character); without one, the bundled file. Only a damaged install, one
whose bundled file is gone, raises :class:`FontMissing`.

>>> find_cjk_font().family  # doctest: +SKIP
'WenQuanYi Micro Hei'
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from finassist.errors import FinassistError

# The font shipped inside the package (see finassist/fonts/README.md for its licence and subset).
BUNDLED_FONT = Path(__file__).resolve().parents[2] / "fonts" / "wqy-microhei-subset.ttf"
BUNDLED_FAMILY = "WenQuanYi Micro Hei"
# Families with full CJK coverage used in preference when the system has them.
SYSTEM_FAMILIES = ("Noto Sans CJK SC", "Source Han Sans SC")
# For HTML/CSS (the report and the web UI): the bundled face first, then system names.
CJK_FONT_STACK = ("finassist CJK", *SYSTEM_FAMILIES, BUNDLED_FAMILY)
MISSING_HINT = (
    "未找到 finassist 自带的中文字体文件（{path}），安装可能已损坏。"
    "请重新安装：pip install --force-reinstall finassist。"
)


class FontMissing(FinassistError):
    """No font with Chinese glyphs can be found (the bundled file is gone)."""


@dataclass(frozen=True)
class CjkFont:
    """A usable Chinese font: matplotlib family name and file."""

    family: str
    path: str


@functools.cache
def find_cjk_font(bundled: Path = BUNDLED_FONT) -> CjkFont:
    """A system Noto/Source Han font when installed, else the bundled one."""
    from matplotlib import font_manager

    manager = font_manager.fontManager
    by_family = {f.name: f.fname for f in manager.ttflist}
    for family in SYSTEM_FAMILIES:
        if family in by_family:
            return CjkFont(family, by_family[family])
    if not bundled.is_file():
        raise FontMissing(MISSING_HINT.format(path=bundled))
    manager.addfont(str(bundled))
    return CjkFont(font_manager.FontProperties(fname=str(bundled)).get_name(), str(bundled))


def font_face_css(url: str) -> str:
    """A CSS ``@font-face`` rule that names the bundled font ``finassist CJK`` at ``url``."""
    return (
        '@font-face { font-family: "finassist CJK"; '
        f'src: url("{url}") format("truetype"); font-display: swap; }}'
    )
