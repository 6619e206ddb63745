"""``/api/kb``: upload, list, delete and search knowledge-base documents; the embedding status.

Reading and searching need any key; uploading and deleting need an admin's key. Without a
knowledge base (``finassist.kb`` not installed or not configured) every route answers 501.
An upload returns once the document is stored and searchable by BM25; its vectors are computed
in the background, and ``/api/kb/status`` (and each listed document's ``embedded`` of
``n_chunks``) shows how far that has got.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Path, Query, Request, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from finassist.serve.errors import ApiError
from finassist.serve.state import Admin, Caller, get_state

router = APIRouter(prefix="/api/kb", tags=["知识库"])
MAX_FILENAME_CHARS = 255
MAX_RESULTS = 50


@router.post("/documents", status_code=201)
async def upload_document(
    *,
    request: Request,
    file: Annotated[UploadFile, File(description="txt / md / html / pdf / docx / jsonl")],
    _admin: Admin,
) -> dict[str, Any]:
    """Add a document to the knowledge base: searchable by BM25 at once, embedded in the
    background (``embedding`` in the answer and ``/api/kb/status`` show the progress)."""
    service = get_state(request).kb_service()
    filename = (file.filename or "").strip()
    if not filename or len(filename) > MAX_FILENAME_CHARS:
        raise ApiError(
            400, "上传的文件缺少文件名或文件名过长。", code="invalid_filename", param="file"
        )
    data = await file.read()
    if not data:
        raise ApiError(400, f"文件 {filename} 是空的。", code="empty_file", param="file")
    return await run_in_threadpool(service.ingest, data, filename)


@router.get("/documents")
def list_documents(*, request: Request, _principal: Caller) -> dict[str, Any]:
    """Every document in the knowledge base; ``embedded`` of ``n_chunks`` have vectors."""
    return {"object": "list", "data": get_state(request).kb_service().documents()}


@router.get("/status")
def status(*, request: Request, _principal: Caller) -> dict[str, Any]:
    """Documents and chunks, how many chunks have vectors (``embedded``; None without an
    embedder), and the background embedding: ``state`` (off / idle / embedding / waiting /
    failed), the current run's ``done`` of ``todo``, ``pending`` chunks, ``error``."""
    return get_state(request).kb_service().status()


@router.delete("/documents/{document_id}", status_code=204)
def delete_document(
    *,
    request: Request,
    document_id: str = Path(min_length=1, max_length=128),
    _admin: Admin,
) -> Response:
    """Remove a document and its passages."""
    get_state(request).kb_service().delete(document_id)
    return Response(status_code=204)


@router.get("/search")
def search(
    *,
    request: Request,
    q: str = Query(min_length=1, max_length=1000, description="检索问题"),
    limit: int = Query(5, ge=1, le=MAX_RESULTS),
    _principal: Caller,
) -> dict[str, Any]:
    """The best passages for ``q``, each with its document and locator (article / page)."""
    return {"object": "list", "data": get_state(request).kb_service().search(q, limit)}
