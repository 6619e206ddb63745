"""Find a font that has Chinese glyphs, for matplotlib (charts) and the HTML/PDF report.

Looked up in matplotlib's font list by family name, then at the paths Debian's packages install
to (a font installed after matplotlib built its font cache is added on first use). Without one,
:class:`FontMissing` names the package to install: a chart whose labels render as empty boxes is
worse than no chart.

>>> find_cjk_font().family  # doctest: +SKIP
'WenQuanYi Micro Hei'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from finassist.errors import FinassistError

# Preferred families, best first, with the files Debian's packages put them in.
CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Droid Sans Fallback",
)
# For HTML/CSS (the report): the families above and their fontconfig names.
CJK_FONT_STACK = (
    "Noto Sans CJK SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Source Han Sans SC",
)
KNOWN_FONT_FILES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
INSTALL_HINT = (
    "未找到可显示中文的字体，无法绘制图表。请安装中文字体后重试，例如 Debian/Ubuntu："
    "sudo apt-get install fonts-wqy-microhei（或 fonts-noto-cjk）。"
)


class FontMissing(FinassistError):
    """No font with Chinese glyphs is installed."""


@dataclass(frozen=True)
class CjkFont:
    """A usable Chinese font: matplotlib family name and file."""

    family: str
    path: str


def find_cjk_font(extra_files: tuple[str, ...] = ()) -> CjkFont:
    """The best installed Chinese font; :class:`FontMissing` when there is none."""
    from matplotlib import font_manager

    manager = font_manager.fontManager
    by_family = {f.name: f.fname for f in manager.ttflist}
    for family in CJK_FAMILIES:
        if family in by_family:
            return CjkFont(family, by_family[family])
    for path in (*extra_files, *KNOWN_FONT_FILES):
        if Path(path).is_file():
            manager.addfont(path)  # matplotlib's cache predates the font: register it
            family = font_manager.FontProperties(fname=path).get_name()
            return CjkFont(family, path)
    raise FontMissing(INSTALL_HINT)
