"""Ingest as a user sees it: every format, re-ingest, changes, bad files, nothing half-written."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import docx
import pytest
from pypdf import PdfWriter
from sqlalchemy import func, select

from finassist.errors import InvalidInput, NotFound
from finassist.kb import KnowledgeBase
from finassist.store import Database
from finassist.store.schema import kb_chunks, kb_documents

HTML = """<html><head><title>保理业务新闻</title></head><body>
<nav><a href="/">首页</a> 导航栏 菜单 登录</nav>
<article><h1>保理业务新闻</h1><p>某银行推出反向保理新产品，供应商可在线确权融资。</p>
<h2>业务要点</h2><p>应收账款须真实、未逾期。</p></article>
<footer>版权所有 联系我们</footer></body></html>"""


def _pdf(path: Path) -> None:
    # A two-page PDF with real text, written with pypdf's own primitives.
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    for text in ("factoring page one", "receivable page two"):
        page = writer.add_blank_page(300, 300)
        stream = DecodedStreamObject()
        stream.set_data(f"BT /F1 12 Tf 20 200 Td ({text}) Tj ET".encode())
        page[NameObject("/Contents")] = writer._add_object(stream)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
    with path.open("wb") as fh:
        writer.write(fh)


def _files(root: Path) -> list[Path]:
    (root / "a.txt").write_text("提前回款按笔操作，随借随还。", encoding="utf-8")
    (root / "gbk.txt").write_bytes("订单融资以订单回款归还，编码为国标。".encode("gbk"))
    (root / "b.md").write_text("# 手册\n\n## 申请材料\n营业执照。\n", encoding="utf-8")
    (root / "c.html").write_text(HTML, encoding="utf-8")
    d = docx.Document()
    d.add_heading("经销融资说明", level=0)  # the "Title" style
    d.add_paragraph("经销融资不需要核心企业担保。")
    d.save(root / "d.docx")
    _pdf(root / "e.pdf")
    rows = [
        {
            "title": "新闻一",
            "text": "央行下调存款准备金率。",
            "url": "https://example.com/1",
            "date": "2026-03-01",
        },
        {
            "title": "新闻二",
            "text": "供应链票据试点扩大。",
            "url": "https://example.com/2",
            "date": "2025-01-15",
        },
    ]
    (root / "f.jsonl").write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in rows), "utf-8"
    )
    return sorted(root.iterdir())


def test_every_format_goes_in_and_reingest_does_nothing(empty_db: Database, tmp_path: Path) -> None:
    kb = KnowledgeBase(empty_db)
    src = tmp_path / "docs"
    src.mkdir()
    files = _files(src)
    calls: list[int] = []
    report = kb.ingest([src], kind="news", progress=lambda _s, done, _t: calls.append(done))
    assert report.failed == []
    assert len(report.added) == 8  # seven files, the jsonl holds two documents
    assert calls == list(range(1, len(files) + 1))
    titles = {d["title"] for d in kb.documents()}
    assert {"a", "gbk", "手册", "保理业务新闻", "经销融资说明", "新闻一", "新闻二"} <= titles
    again = kb.ingest([src], kind="news")
    assert again.added == [] and again.replaced == [] and len(again.unchanged) == len(titles)


def test_formats_keep_text_pages_and_skip_navigation(empty_db: Database, tmp_path: Path) -> None:
    kb = KnowledgeBase(empty_db)
    _files(tmp_path)
    kb.ingest([tmp_path], kind="news")
    with empty_db.read() as conn:
        texts = conn.execute(select(kb_chunks.c.text)).scalars().all()
        pages = (
            conn.execute(
                select(kb_chunks.c.page)
                .where(kb_chunks.c.page.is_not(None))
                .order_by(kb_chunks.c.page)
            )
            .scalars()
            .all()
        )
    joined = "\n".join(texts)
    assert "国标" in joined  # GBK decoded
    assert "导航栏" not in joined and "版权所有" not in joined
    assert pages == [1, 2]
    hit = kb.search("receivable").passages[0]
    assert hit.locator == "第2页" and hit.citation.endswith("第2页")
    news = kb.search("存款准备金", since=date(2026, 1, 1)).passages
    assert news and news[0].url == "https://example.com/1"
    assert kb.search("供应链票据", since=date(2026, 1, 1)).passages == []


def test_changed_file_replaces_its_chunks(empty_db: Database, tmp_path: Path) -> None:
    kb = KnowledgeBase(empty_db)
    path = tmp_path / "note.md"
    path.write_text("# 说明\n\n旧的内容：保理期限三个月。", encoding="utf-8")
    kb.ingest([path])
    path.write_text("# 说明\n\n新的内容：保理期限六个月。", encoding="utf-8")
    report = kb.ingest([path])
    assert report.replaced == ["说明"]
    assert [p.text for p in kb.search("保理期限").passages] == ["新的内容：保理期限六个月。"]
    with empty_db.read() as conn:
        assert conn.execute(select(func.count()).select_from(kb_documents)).scalar_one() == 1


def test_bad_files_are_named_and_skipped_the_others_go_in(
    empty_db: Database, tmp_path: Path
) -> None:
    kb = KnowledgeBase(empty_db)
    tmp_path = tmp_path / "inbox"
    tmp_path.mkdir()
    (tmp_path / "good.txt").write_text("应收账款质押需要登记。", encoding="utf-8")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    (tmp_path / "broken.docx").write_bytes(b"PK not a zip")
    (tmp_path / "bad.jsonl").write_text('{"title": "一", "text": "好的一行"}\n{oops', "utf-8")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / "empty.txt").write_text("   \n", encoding="utf-8")
    report = kb.ingest([tmp_path, tmp_path / "missing.md"])
    failed = {Path(f).name: e for f, e in report.failed}
    assert set(failed) == {
        "broken.pdf",
        "broken.docx",
        "bad.jsonl",
        "image.png",
        "empty.txt",
        "missing.md",
    }
    assert "第 2 行" in failed["bad.jsonl"]
    assert report.added == ["good"]
    # nothing of the bad jsonl went in, not even its good first line
    assert [d["title"] for d in kb.documents()] == ["good"]


def test_remove_deletes_a_document_and_unknown_ids_are_clear(
    empty_db: Database, tmp_path: Path
) -> None:
    kb = KnowledgeBase(empty_db)
    (tmp_path / "x.txt").write_text("动态折扣由核心企业出资。", encoding="utf-8")
    kb.ingest([tmp_path / "x.txt"])
    doc_id = kb.documents()[0]["id"]
    assert kb.remove(doc_id) == "x"
    assert kb.documents() == [] and kb.search("动态折扣").passages == []
    with pytest.raises(NotFound, match="kb list"):
        kb.remove(doc_id)
    with pytest.raises(InvalidInput, match="文档类型"):
        kb.ingest([tmp_path / "x.txt"], kind="novel")


def test_jsonl_rows_sharing_a_url_are_separate_documents(
    empty_db: Database, tmp_path: Path
) -> None:
    """159 news passages, 20 of them under a url another row has: 159 documents, and the
    same file ingested again changes nothing."""
    rows = [
        {
            "title": f"市场快讯{i}",
            "text": f"第{i}条快讯：供应链金融资产规模环比增长{i}个百分点。",
            "url": f"https://news.example.com/{i % 139}",
        }
        for i in range(159)
    ]
    path = tmp_path / "news.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), "utf-8")
    kb = KnowledgeBase(empty_db)
    report = kb.ingest([path], kind="news")
    assert (len(report.added), report.replaced) == (159, [])
    assert len(kb.documents()) == 159
    again = kb.ingest([path], kind="news")
    assert (again.added, again.replaced, len(again.unchanged)) == ([], [], 159)
    assert len(kb.documents()) == 159
