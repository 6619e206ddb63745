"""Readers, one per file format, registered by suffix: bytes on disk -> documents.

Each reader returns the documents of one file (a ``.jsonl`` file holds many) as sections of
text with their headings and pages. Anything unreadable raises :class:`IngestError` naming the
file and the problem; the caller skips that file and keeps the others.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path

from finassist.errors import InvalidInput, add_unique
from finassist.fileio import UnknownEncoding, decode_text
from finassist.kb.types import Document, Section

MAX_FILE_BYTES = 64 * 1024 * 1024
_DATE_IN_NAME = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


class IngestError(InvalidInput):
    """A file could not be read as a document; the message names the file and the fix."""


Reader = Callable[[Path, bytes, str], list[Document]]
READERS: dict[str, Reader] = {}


def reader(*suffixes: str) -> Callable[[Reader], Reader]:
    """Register a reader for file suffixes (lower case, with the dot)."""

    def wrap(fn: Reader) -> Reader:
        for suffix in suffixes:
            add_unique(READERS, suffix, fn, "文件读取器")
        return fn

    return wrap


def document_id(source: str) -> str:
    """A stable id for a source (path or URL): the same file always gets the same id."""
    return "f" + hashlib.sha1(source.encode("utf-8")).hexdigest()[:15]


def decode(path: Path, data: bytes) -> str:
    """The text of a file's bytes (:func:`finassist.fileio.decode_text`), as an ingest error."""
    try:
        return decode_text(data, path.name)
    except UnknownEncoding as exc:
        raise IngestError(str(exc)) from exc


def date_from_name(path: Path) -> date | None:
    """``票据法(2004-08-28).md`` -> 2004-08-28."""
    match = _DATE_IN_NAME.search(path.stem)
    if not match:
        return None
    try:
        return date(*(int(g) for g in match.groups()))
    except ValueError:
        return None


def _doc(path: Path, kind: str, title: str, sections: list[Section], **kw: object) -> Document:
    source = str(path.resolve())
    return Document(
        id=document_id(source),
        title=title[:255],
        kind=kind,
        source=source,
        sections=[s for s in sections if s.text.strip()],
        date=kw.get("date") or date_from_name(path),  # type: ignore[arg-type]
    )


def _title_from_stem(path: Path) -> str:
    return re.sub(r"\(\d{4}-\d{2}-\d{2}\)$", "", path.stem).strip() or path.name


@reader(".txt")
def read_text(path: Path, data: bytes, kind: str) -> list[Document]:
    """Plain text: one section; the title is the file name."""
    return [_doc(path, kind, _title_from_stem(path), [Section(decode(path, data))])]


def markdown_sections(text: str) -> tuple[str | None, list[Section]]:
    """The first level-1 heading (title) and the text under each heading path."""
    text = _HTML_COMMENT.sub("", text)
    title: str | None = None
    path: list[tuple[int, str]] = []
    sections: list[Section] = []
    lines: list[str] = []

    def flush() -> None:
        if any(line.strip() for line in lines):
            sections.append(Section("\n".join(lines), " / ".join(h for _, h in path[-2:])))
        lines.clear()

    for line in text.splitlines():
        match = _MD_HEADING.match(line)
        if not match:
            lines.append(line)
            continue
        flush()
        level, heading = len(match.group(1)), re.sub(r"\s+", " ", match.group(2).strip())
        if level == 1 and title is None:
            title = heading
            continue
        path = [(lv, h) for lv, h in path if lv < level] + [(level, heading)]
    flush()
    return title, sections


@reader(".md", ".markdown")
def read_markdown(path: Path, data: bytes, kind: str) -> list[Document]:
    """Markdown: the first ``#`` heading is the title; sections follow the headings."""
    title, sections = markdown_sections(decode(path, data))
    return [_doc(path, kind, title or _title_from_stem(path), sections)]


_HTML_NOISE = ("script", "style", "nav", "header", "footer", "aside", "form", "noscript", "iframe")


@reader(".html", ".htm")
def read_html(path: Path, data: bytes, kind: str) -> list[Document]:
    """HTML: the main text (``<article>``/``<main>``/body without navigation), by headings."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(decode(path, data), "lxml")
    title_tag = soup.find("title")
    h1 = soup.find("h1")
    title = (title_tag.get_text(strip=True) if title_tag else "") or (
        h1.get_text(strip=True) if h1 else ""
    )
    for tag in soup.find_all(_HTML_NOISE):
        tag.decompose()
    for tag in soup.find_all(attrs={"role": ["navigation", "banner", "contentinfo"]}):
        tag.decompose()
    root = soup.find("article") or soup.find("main") or soup.body or soup
    sections: list[Section] = []
    heading, lines = "", []
    for node in root.find_all(["h1", "h2", "h3", "h4", "p", "li", "td", "pre", "blockquote"]):
        if node.find(["p", "li", "td"]):  # containers: their children are visited themselves
            continue
        text = node.get_text(" ", strip=True)
        if not text:
            continue
        if node.name in ("h1", "h2", "h3", "h4"):
            if lines:
                sections.append(Section("\n".join(lines), heading))
            heading, lines = text, []
        else:
            lines.append(text)
    if lines:
        sections.append(Section("\n".join(lines), heading))
    if not sections:
        text = root.get_text("\n", strip=True)
        sections = [Section(text)]
    return [_doc(path, kind, title or _title_from_stem(path), sections)]


@reader(".pdf")
def read_pdf(path: Path, data: bytes, kind: str) -> list[Document]:
    """PDF: one section per page, so that every chunk knows its page number."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        pdf = PdfReader(io.BytesIO(data))
        if pdf.is_encrypted:
            raise IngestError(f"文件 {path.name} 已加密，请先解除密码保护。")
        pages = [Section(page.extract_text() or "", page=n) for n, page in enumerate(pdf.pages, 1)]
        meta_title = (pdf.metadata.title if pdf.metadata else None) or ""
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise IngestError(f"文件 {path.name} 不是有效的 PDF：{exc}") from exc
    if not any(p.text.strip() for p in pages):
        raise IngestError(f"文件 {path.name} 没有可提取的文字（可能是扫描件），请先做文字识别。")
    return [_doc(path, kind, str(meta_title).strip() or _title_from_stem(path), pages)]


@reader(".docx")
def read_docx(path: Path, data: bytes, kind: str) -> list[Document]:
    """Word: paragraphs, with Heading/标题 styles starting sections."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError) as exc:
        raise IngestError(f"文件 {path.name} 不是有效的 Word（.docx）文件。") from exc
    except Exception as exc:  # zipfile.BadZipFile and friends
        raise IngestError(f"文件 {path.name} 无法作为 Word 文件打开：{exc}") from exc
    title = (document.core_properties.title or "").strip()
    sections: list[Section] = []
    heading, lines = "", []
    for para in document.paragraphs:
        text = para.text.strip()
        if not text:
            continue
        style = (para.style.name if para.style is not None else "") or ""
        if style.lower().startswith(("heading", "title")) or style.startswith(("标题", "Title")):
            if style.lower().startswith("title") and not title:
                title = text
                continue
            if lines:
                sections.append(Section("\n".join(lines), heading))
            heading, lines = text, []
        else:
            lines.append(text)
    if lines:
        sections.append(Section("\n".join(lines), heading))
    return [_doc(path, kind, title or _title_from_stem(path), sections)]


@reader(".jsonl")
def read_jsonl(path: Path, data: bytes, kind: str) -> list[Document]:
    """One document per line: ``{"title", "text", "url"?, "date"?, "kind"?, "id"?}``.

    A row's ``id`` names its document; without one, a row with a url is identified by the url
    and its text (rows sharing a url stay separate documents), otherwise by file and title.
    """
    docs: list[Document] = []
    source = str(path.resolve())
    for lineno, line in enumerate(decode(path, data).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            title, text = str(row["title"]).strip(), str(row["text"])
            when = date.fromisoformat(str(row["date"])[:10]) if row.get("date") else None
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise IngestError(
                f"文件 {path.name} 第 {lineno} 行无法解析（需要 JSON 对象，含 title 与 text，"
                f"date 为 YYYY-MM-DD）：{exc}"
            ) from exc
        url = row.get("url") or None
        # Rows that share a url (a site's section page, a feed) are separate documents when
        # their text differs; the same row ingested again keeps its id and changes nothing.
        digest = hashlib.sha1(f"{title}\0{text}".encode()).hexdigest()[:16]
        key = str(row.get("id") or (f"{url}#{digest}" if url else f"{source}#{title}"))
        _, sections = markdown_sections(text)
        docs.append(
            Document(
                id=document_id(key),
                title=title[:255] or path.stem,
                kind=str(row.get("kind") or kind),
                source=url or f"{source}#{lineno}",
                sections=[s for s in sections if s.text.strip()],
                url=url,
                date=when,
            )
        )
    return docs


def read_file(path: Path, kind: str) -> list[Document]:
    """The documents of one file; :class:`IngestError` says why a file cannot be used."""
    suffix = path.suffix.lower()
    if suffix not in READERS:
        known = "、".join(sorted(READERS))
        raise IngestError(f"不支持的文件类型 {path.name}（支持 {known}）。")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise IngestError(
                f"文件 {path.name} 超过 {MAX_FILE_BYTES // 1024 // 1024} MB，请拆分后再导入。"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(f"无法读取文件 {path}：{exc.strerror or exc}") from exc
    docs = READERS[suffix](path, data, kind)
    if not any(d.sections for d in docs):
        raise IngestError(f"文件 {path.name} 没有可导入的文字内容。")
    return docs
