"""The build report: one JSON document, and an HTML page with the plots embedded (SVG data URIs).

Plots are drawn with matplotlib's object API (no pyplot global state). Labels are Chinese when a
CJK font is installed (Debian: fonts-noto-cjk or fonts-wqy-microhei), English otherwise, so a
machine without the font never shows boxes instead of characters.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections import Counter
from functools import lru_cache
from typing import Any

CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Source Han Sans SC", "SimHei", "Microsoft YaHei", "PingFang SC")  # fmt: skip
LENGTH_BIN = 20
LENGTH_MAX = 1200


def length_bin(n: int) -> int:
    """The histogram bin (lower edge, in characters) of a length; long ones share the last bin."""
    return min(n, LENGTH_MAX) // LENGTH_BIN * LENGTH_BIN


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The first CJK font matplotlib can use, or None."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def _label(zh: str, en: str) -> str:
    return zh if cjk_font() else en


def _figure_uri(draw: Any, width: float = 7.0, height: float = 3.2) -> str:
    from matplotlib.figure import Figure

    font = cjk_font()
    fig = Figure(figsize=(width, height))
    if font:
        from matplotlib import rc_context

        with rc_context({"font.sans-serif": [font, "DejaVu Sans"], "axes.unicode_minus": False}):
            draw(fig.add_subplot())
            fig.tight_layout()
            buf = io.BytesIO()
            fig.savefig(buf, format="svg")
    else:
        draw(fig.add_subplot())
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="svg")
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _plots(report: dict[str, Any]) -> list[tuple[str, str]]:
    plots: list[tuple[str, str]] = []
    stages = report["stages"]

    def funnel(ax: Any) -> None:
        names = [s["title"] if cjk_font() else s["name"] for s in stages]
        ax.barh(names[::-1], [s["out"] for s in stages][::-1], color="#4C72B0")
        ax.set_xlabel(_label("输出条数", "records out"))

    plots.append(
        (
            _label("各阶段输出", "Records out of each stage"),
            _figure_uri(funnel, 7, 0.3 * len(stages) + 1),
        )
    )

    lengths = report["lengths"]
    if lengths["reply"]:

        def hist(ax: Any) -> None:
            for key, zh, en in (("reply", "回复", "reply"), ("context", "上下文", "context")):
                data = {int(k): v for k, v in lengths[key].items()}
                xs = sorted(data)
                ax.step(xs, [data[x] for x in xs], where="post", label=_label(zh, en))
            ax.set_xlabel(_label("字符数", "characters"))
            ax.set_ylabel(_label("样本数", "samples"))
            ax.legend()

        plots.append((_label("长度分布", "Length histogram"), _figure_uri(hist)))

    sizes = report["clusters"]["size_histogram"]
    if sizes:

        def clusters(ax: Any) -> None:
            xs = sorted(int(k) for k in sizes)
            ax.bar([str(x) for x in xs], [sizes[str(x)] for x in xs], color="#55A868")
            ax.set_yscale("log")
            ax.set_xlabel(_label("簇大小（分档）", "cluster size (binned)"))
            ax.set_ylabel(_label("簇数", "clusters"))

        plots.append((_label("语义簇大小", "Semantic cluster sizes"), _figure_uri(clusters)))

    pii = report["pii"]
    if pii:

        def pii_bar(ax: Any) -> None:
            ax.bar(list(pii), list(pii.values()), color="#C44E52")
            ax.set_ylabel(_label("替换次数", "replacements"))
            ax.tick_params(axis="x", rotation=30)

        if cjk_font():
            plots.append(("PII 按类型", _figure_uri(pii_bar)))

    mix = report["mix"]["actual"]
    if any(mix.values()):

        def mix_bar(ax: Any) -> None:
            ax.bar(list(mix), list(mix.values()), color="#8172B2")
            ax.set_ylabel(_label("样本数", "samples"))

        plots.append((_label("最终数据构成", "Final mix"), _figure_uri(mix_bar, 5, 3)))
    return plots


def bin_sizes(sizes: list[int]) -> dict[str, int]:
    """Cluster sizes in power-of-two bins (2, 4, 8, ...), keyed by the bin's lower edge."""
    binned: Counter[int] = Counter()
    for size in sizes:
        edge = 2
        while edge * 2 <= size:
            edge *= 2
        binned[edge] += 1
    return {str(k): v for k, v in sorted(binned.items())}


def cluster_section(clusters: dict[str, Any]) -> str:
    """The semantic-dedup samples for a person to check: merged groups, and near-pairs the
    embeddings proposed but the facts refused, with the reason."""
    e = html.escape
    merged = "".join(
        f"<tr><td>{c['cluster']}</td><td>{c['size']:,}</td><td>{c['kept']:,}</td>"
        f"<td>{'<br>'.join(e(t) for t in c.get('variants', c['examples'])[:5])}</td></tr>"
        for c in clusters.get("samples", [])
    )
    refused = clusters.get("refused") or {"count": 0, "by_kind": {}, "samples": []}
    kinds = "；".join(f"{k} {v:,}" for k, v in refused["by_kind"].items()) or "无"
    pairs = "".join(
        f"<tr><td>{e(p['a'])}</td><td>{e(p['b'])}</td><td>{p['cosine']:.3f}</td>"
        f"<td>{e(p['reason'])}</td></tr>"
        for p in refused["samples"][:20]
    )
    return f"""<h2>语义去重样例</h2>
<p>多成员簇 {clusters.get("count", 0):,} 个（同簇即视为重复，超过上限的部分被删减）。向量只负责提出候选；
数字、金额、日期、关键词（提前/延期、增加/减少、开通/关闭……）、否定（不/没/未）或名称（股票、基金、指标……）不同的近似句不合并。</p>
<h3>已合并的簇（样例）</h3>
<table><tr><th>簇</th><th>大小</th><th>保留</th><th>例句</th></tr>{merged or "<tr><td colspan='4'>无</td></tr>"}</table>
<h3>语义相近但未合并（共 {refused["count"]:,} 对：{e(kinds)}）</h3>
<table><tr><th>句子 A</th><th>句子 B</th><th>余弦相似度</th><th>原因</th></tr>{pairs or "<tr><td colspan='4'>无</td></tr>"}</table>"""


def render_html(report: dict[str, Any]) -> str:
    """The report as one self-contained HTML page."""
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(s['title'])}</td><td>{s['in']:,}</td><td>{s['out']:,}</td>"
        f"<td>{e('；'.join(f'{k} {v:,}' for k, v in s['dropped'].items()))}</td>"
        f"<td>{e(' '.join(s['notes']))}</td><td>{s['seconds']:.1f}</td></tr>"
        for s in report["stages"]
    )
    notes = "".join(f"<li>{e(n)}</li>" for n in report["notes"])
    bad = report["input"]["bad_listed"][:50]
    bad_rows = "".join(
        f"<tr><td>{e(b['file'])}</td><td>{b['line']}</td><td>{e(b['reason'])}</td></tr>"
        for b in bad
    )
    splits = "".join(
        f"<tr><td>{e(split)}</td>{''.join(f'<td>{counts.get(k, 0):,}</td>' for k in ('chat', 'knowledge', 'structured'))}</tr>"
        for split, counts in report["splits"].items()
    )
    figures = "".join(
        f"<figure><figcaption>{e(t)}</figcaption><img src='{uri}' alt='{e(t)}'></figure>"
        for t, uri in _plots(report)
    )
    mix = report["mix"]
    target = e(json.dumps(mix["target"], ensure_ascii=False))
    actual = e(json.dumps(mix["actual"], ensure_ascii=False))
    pii = e("；".join(f"{k} {v:,}" for k, v in report["pii"].items())) or "无"
    inp = report["input"]
    clusters = cluster_section(report["clusters"])
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>微调数据构建报告</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}figure{{margin:1em 0}}img{{max-width:100%}}</style></head>
<body><h1>微调数据构建报告</h1>
<p>输入 {inp["rows"]:,} 行（坏行 {inp["bad_rows"]:,}），输出 {report["total"]:,} 个样本，用时 {report["seconds"]:.1f} 秒。</p>
<h2>说明</h2><ul>{notes or "<li>无</li>"}</ul>
<h2>各阶段</h2><table><tr><th>阶段</th><th>输入</th><th>输出</th><th>原因 / 明细</th><th>备注</th><th>秒</th></tr>{rows}</table>
<h2>数据构成</h2><p>目标比例 {target}；实际 {actual}</p>
<table><tr><th>划分</th><th>聊天</th><th>知识</th><th>结构化</th></tr>{splits}</table>
{clusters}
<h2>个人信息（按类型替换次数）</h2><p>{pii}</p>
<h2>图表</h2>{figures}
<h2>坏行（前 50 条）</h2><table><tr><th>文件</th><th>行号</th><th>原因</th></tr>{bad_rows}</table>
</body></html>
"""
