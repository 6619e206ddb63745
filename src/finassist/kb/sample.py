"""The sample knowledge base shipped in ``kb/data``: product manuals, glossary, statutes.

Loading is idempotent: documents keep the ids the manifest gives them, so a second load finds
every document unchanged and writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from importlib import resources
from typing import Any

import yaml

from finassist.kb.base import IngestReport, KnowledgeBase, Progress
from finassist.kb.readers import markdown_sections
from finassist.kb.types import Document
from finassist.kb.vectors import sample_vectors


def manifest() -> list[dict[str, Any]]:
    """The entries of ``data/manifest.yaml``."""
    text = resources.files("finassist.kb").joinpath("data/manifest.yaml").read_text("utf-8")
    return list(yaml.safe_load(text)["documents"])


def sample_documents(ids: Sequence[str] = ()) -> list[Document]:
    """The sample documents (all, or those with the given ids), read from the package."""
    docs = []
    root = resources.files("finassist.kb").joinpath("data")
    for entry in manifest():
        if ids and entry["id"] not in ids:
            continue
        text = root.joinpath(entry["file"]).read_text("utf-8")
        _, sections = markdown_sections(text)
        when = entry.get("date")
        docs.append(
            Document(
                id=str(entry["id"]),
                title=str(entry["title"]),
                kind=str(entry["kind"]),
                source=f"sample:{entry['file']}",
                sections=sections,
                date=when if isinstance(when, date) else None,
            )
        )
    return docs


def load_sample(
    kb: KnowledgeBase, *, ids: Sequence[str] = (), progress: Progress | None = None
) -> IngestReport:
    """Store the sample documents (unchanged ones are skipped); one transaction per document.

    The chunks are stored with the vectors shipped in the package (computed with the default
    embedder), so a knowledge base with that embedder searches them densely at once.
    """
    report = IngestReport()
    docs = sample_documents(ids)
    if kb.precomputed is None:
        kb.precomputed = sample_vectors()
    for n, doc in enumerate(docs, start=1):
        kb.add_documents([doc], report)
        if progress:
            progress("载入示例知识库", n, len(docs))
    return report
