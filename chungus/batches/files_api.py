"""/v1/files: upload, list, retrieve, download and delete a tenant's files (OpenAI's API).

Thin handlers: the key is checked against the data plane's snapshot, the work is done by
chungus.batches.files off the event loop. An upload is parsed by Starlette (python-multipart),
which spools the file part to disk past 1 MB, so a 200 MB file is never held in memory;
the whole body is counted as it arrives and refused past CHUNGUS_MAX_FILE_BYTES.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message, Receive

from chungus.batches import files
from chungus.batches.callers import Callers
from chungus.batches.models import Purpose
from chungus.batches.storage import file_path
from chungus.gateway.responses import json_response
from chungus.lib.body_limit import drain, too_large
from chungus.lib.dbthreads import off_loop
from chungus.lib.openai_errors import InvalidRequest, PayloadTooLarge, ServiceUnavailable

FORM_OVERHEAD = 64 * 1024  # the multipart framing and the purpose field, beyond the file
UPLOADABLE = (Purpose.BATCH.value,)
_UNSTORABLE = ("Cc", "Cs")  # control characters, surrogates


def file_routes(callers: Callers, max_bytes: int, prefixes: tuple[str, ...]) -> list[BaseRoute]:
    """The /v1/files routes under every prefix."""

    async def upload(request: Request) -> Response:
        key = await callers.key(request)
        form = await read_form(request, max_bytes + FORM_OVERHEAD)
        try:
            purpose, upload = form.get("purpose"), form.get("file")
            if purpose not in UPLOADABLE:
                raise InvalidRequest(
                    f"purpose must be one of: {', '.join(UPLOADABLE)}.", param="purpose"
                )
            if not isinstance(upload, UploadFile):
                raise InvalidRequest("Send the file as the multipart part 'file'.", param="file")
            if (upload.size or 0) > max_bytes:
                raise PayloadTooLarge(f"The file is larger than {max_bytes} bytes.")
            name = stored_name(upload.filename)
            return json_response(await off_loop(files.store)(key, name, purpose, upload.file))
        finally:
            await form.close()

    async def listing(request: Request) -> Response:
        query = request.query_params
        limit = query.get("limit", str(files.MAX_LIST))
        if not limit.isdigit():
            raise InvalidRequest("limit must be a whole number.", param="limit")
        key = await callers.key(request)
        found = await off_loop(files.listing)(
            key, query.get("purpose"), int(limit), query.get("order", "desc"), query.get("after")
        )
        return json_response(found)

    async def retrieve(request: Request) -> Response:
        row = await off_loop(files.one)(await callers.key(request), request.path_params["file_id"])
        return json_response(files.file_object(row))

    async def content(request: Request) -> Response:
        row = await off_loop(files.one)(await callers.key(request), request.path_params["file_id"])
        path = file_path(row.id)
        if not path.exists():
            raise ServiceUnavailable(
                "This file's content is not in this server's file storage: every CHUNGUS "
                "process on one database must share CHUNGUS_FILES_DIR.",
                code="file_storage_missing",
            )
        return FileResponse(path, media_type="application/octet-stream")

    async def delete(request: Request) -> Response:
        return json_response(
            await off_loop(files.delete)(await callers.key(request), request.path_params["file_id"])
        )

    routes: list[BaseRoute] = []
    for prefix in prefixes:
        routes += [
            Route(f"{prefix}/files", upload, methods=["POST"]),
            Route(f"{prefix}/files", listing, methods=["GET"]),
            Route(f"{prefix}/files/{{file_id}}", retrieve, methods=["GET"]),
            Route(f"{prefix}/files/{{file_id}}", delete, methods=["DELETE"]),
            Route(f"{prefix}/files/{{file_id}}/content", content, methods=["GET"]),
        ]
    return routes


async def read_form(request: Request, limit: int) -> Any:
    """The multipart form, its body counted as it arrives: 413 past `limit` bytes (the rest
    read and dropped within body_limit's bounds first, so the client can read the answer)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _refused(limit, await drain(request.stream()))
    counted = Request(request.scope, counting(request.receive, limit))
    return await counted.form(max_files=1, max_fields=8)


def counting(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise _refused(limit, drained=False)
        return message

    return counted


def _refused(limit: int, drained: bool) -> PayloadTooLarge:
    error = too_large(limit)
    if not drained:
        error.headers["Connection"] = "close"
    return error


def stored_name(filename: str | None) -> str:
    """The client's file name as data: its last path part, bounded, with control characters
    and lone surrogates (which PostgreSQL cannot store, NUL above all) replaced by U+FFFD,
    as the request log does (pure)."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()[:255]
    name = "".join("\ufffd" if unicodedata.category(c) in _UNSTORABLE else c for c in name)
    return name or "upload.jsonl"
