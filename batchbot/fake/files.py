"""The fake server's Files API: what the Batch API reads its input from and writes results to.

    POST /v1/files                  multipart upload (`file`, `purpose`)
    GET  /v1/files/{file_id}        the file object
    GET  /v1/files/{file_id}/content  the bytes

Files live in memory for the server's lifetime. Like the real API, a `purpose=batch` input file
cannot be downloaded again; the outputs the batches write (`batch_output`) can.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from batchbot.fake.errors import ApiError

PURPOSES = frozenset({"batch", "batch_output", "fine-tune", "assistants", "user_data", "vision"})


@dataclass(frozen=True, slots=True)
class StoredFile:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int

    def object(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.data),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "expires_at": None,
            "status_details": None,
        }


class FakeFiles:
    """Uploaded and generated files, by id; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, StoredFile] = {}

    def add(self, data: bytes, *, filename: str, purpose: str) -> StoredFile:
        stored = StoredFile(
            f"file-{secrets.token_hex(12)}", filename, purpose, data, int(time.time())
        )
        with self._lock:
            self._files[stored.id] = stored
        return stored

    def get(self, file_id: str) -> StoredFile:
        with self._lock:
            stored = self._files.get(file_id)
        if stored is None:
            raise ApiError(404, f"No such File object: {file_id}", param="id")
        return stored

    def count(self, purpose: str | None = None) -> int:
        with self._lock:
            return sum(1 for f in self._files.values() if purpose in (None, f.purpose))

    def clear(self) -> None:
        with self._lock:
            self._files.clear()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/files", self._upload),
            web.get("/v1/files/{file_id}", self._retrieve),
            web.get("/v1/files/{file_id}/content", self._content),
        ]

    async def _upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload, purpose = form.get("file"), form.get("purpose")
        if not isinstance(upload, web.FileField):
            return _error(ApiError(400, "Missing required parameter: 'file'.", param="file"))
        if not isinstance(purpose, str) or purpose not in PURPOSES:
            return _error(ApiError(400, f"Invalid purpose: {purpose!r}.", param="purpose"))
        stored = self.add(upload.file.read(), filename=upload.filename, purpose=purpose)
        return web.json_response(stored.object())

    async def _retrieve(self, request: web.Request) -> web.Response:
        try:
            return web.json_response(self.get(request.match_info["file_id"]).object())
        except ApiError as error:
            return _error(error)

    async def _content(self, request: web.Request) -> web.Response:
        try:
            stored = self.get(request.match_info["file_id"])
        except ApiError as error:
            return _error(error)
        if stored.purpose == "batch":
            return _error(ApiError(400, "Not allowed to download files of purpose: batch"))
        return web.Response(body=stored.data, content_type="application/octet-stream")


def _error(error: ApiError) -> web.Response:
    return web.json_response(error.body(), status=error.status)
