"""The fake server's Batch API: create, retrieve, cancel and list batches over its Files API.

    POST /v1/batches                     {input_file_id, endpoint, completion_window, metadata}
    GET  /v1/batches/{batch_id}
    POST /v1/batches/{batch_id}/cancel
    GET  /v1/batches?after=&limit=       newest first, as the API pages them

A batch is `in_progress` for `delay_s` seconds after it is created, then every line is answered
at once, as its endpoint would answer it (same content, same usage, same error bodies;
`[[fake:FAULT]]` markers fail their line). Successes go to the output file, failures to the
error file, as `{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}`
lines; the server's answer quirks apply to them too (`fake.quirks`). `finish_now()` ends every
batch's wait. A test makes the next batch expire with
`expire_next(completed=k)`: only its first k lines are answered, the rest land in the error
file as `batch_expired`. A cancelled batch's unanswered lines land there as `batch_cancelled`.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from batchbot.fake import errors as fake_errors
from batchbot.fake import known
from batchbot.fake.endpoints import KINDS
from batchbot.fake.errors import ApiError
from batchbot.fake.faults import CONNECTION_FAULTS, fault_error, find_marker
from batchbot.fake.files import FakeFiles
from batchbot.fake.quirks import AnswerQuirks

# The endpoints the Batch API runs, and the kind of request each line of such a batch is.
BATCH_ENDPOINTS = {
    "/v1/chat/completions": "chat",
    "/v1/responses": "responses",
    "/v1/embeddings": "embeddings",
}
ALIVE = frozenset({"validating", "in_progress", "finalizing", "cancelling"})
EXPIRED_MESSAGE = "This request could not be executed before the completion window expired."
CANCELLED_MESSAGE = "This request was not executed because the batch was cancelled."


@dataclass
class FakeBatch:
    id: str
    input_file_id: str
    endpoint: str
    lines: list[dict[str, Any]]
    created_at: int
    due: float  # clock time the answers are ready
    metadata: Mapping[str, str] | None
    model: str | None
    status: str = "in_progress"
    expire_after: int | None = None  # answer only this many lines, then expire
    output_file_id: str | None = None
    error_file_id: str | None = None
    completed: int = 0
    failed: int = 0
    finished: dict[str, int] = field(default_factory=dict)  # "<status>_at" -> unix time
    errors: list[dict[str, Any]] = field(default_factory=list)

    def object(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "errors": {"object": "list", "data": self.errors} if self.errors else None,
            "input_file_id": self.input_file_id,
            "completion_window": "24h",
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            "in_progress_at": self.created_at,
            "expires_at": self.created_at + 86_400,
            "model": self.model,
            "request_counts": {
                "total": len(self.lines),
                "completed": self.completed,
                "failed": self.failed,
            },
            "metadata": dict(self.metadata) if self.metadata else None,
            **self.finished,
        }


class FakeBatches:
    """Batches by id; thread-safe. Answers are computed when a batch is next looked at."""

    def __init__(
        self,
        files: FakeFiles,
        *,
        delay_s: float = 0.0,
        context_window: int = 128_000,
        clock: Callable[[], float] = time.monotonic,
        quirks: AnswerQuirks | None = None,
    ) -> None:
        self.files, self.delay_s, self.context_window = files, delay_s, context_window
        self.quirks = quirks or AnswerQuirks()
        self._clock = clock
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._batches: dict[str, FakeBatch] = {}
            self._expire: deque[int] = deque()
            self.created = 0
            # Answer GET /v1/batches with this status instead: 404 as a gateway without the
            # route, 500 or 503 as a failing one. None: list as the API does.
            self.list_status: int | None = None

    def expire_next(self, *, completed: int) -> None:
        """The next batch created answers only its first `completed` lines, then expires."""
        with self._lock:
            self._expire.append(completed)

    def finish_now(self) -> None:
        """Every batch in progress is answered when next looked at."""
        with self._lock:
            for batch in self._batches.values():
                batch.due = 0.0

    def all(self) -> list[FakeBatch]:
        """Every batch, oldest first."""
        with self._lock:
            return list(self._batches.values())

    def get(self, batch_id: str) -> FakeBatch:
        with self._lock:
            batch = self._batches.get(batch_id)
        if batch is None:
            raise ApiError(404, f"No batch found with id '{batch_id}'.", param="batch_id")
        self._advance(batch)
        return batch

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/batches", self._create),
            web.get("/v1/batches", self._list),
            web.get("/v1/batches/{batch_id}", self._retrieve),
            web.post("/v1/batches/{batch_id}/cancel", self._cancel),
        ]

    # -- handlers ----------------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.Response:
        try:
            data = orjson.loads(await request.read())
            return web.json_response(self.create(data).object())
        except ApiError as error:
            return web.json_response(error.body(), status=error.status)
        except orjson.JSONDecodeError:
            bad = fake_errors.bad_json()
            return web.json_response(bad.body(), status=bad.status)

    async def _retrieve(self, request: web.Request) -> web.Response:
        try:
            return web.json_response(self.get(request.match_info["batch_id"]).object())
        except ApiError as error:
            return web.json_response(error.body(), status=error.status)

    async def _cancel(self, request: web.Request) -> web.Response:
        try:
            batch = self.get(request.match_info["batch_id"])
        except ApiError as error:
            return web.json_response(error.body(), status=error.status)
        with self._lock:
            if batch.status in ALIVE:
                batch.status = "cancelling"
                batch.finished["cancelling_at"] = int(time.time())
        return web.json_response(batch.object())

    async def _list(self, request: web.Request) -> web.Response:
        if self.list_status is not None:
            error = (
                fake_errors.not_found_route(request.method, request.path)
                if self.list_status == 404
                else fake_errors.server_error(self.list_status)
            )
            return web.json_response(error.body(), status=error.status)
        limit = int(request.query.get("limit", "20"))
        after = request.query.get("after")
        with self._lock:
            batches = list(reversed(self._batches.values()))  # newest first
            ids = [b.id for b in batches]
        start = ids.index(after) + 1 if after in ids else 0
        page = batches[start : start + limit]
        for batch in page:
            self._advance(batch)
        return web.json_response(
            {
                "object": "list",
                "data": [b.object() for b in page],
                "first_id": page[0].id if page else None,
                "last_id": page[-1].id if page else None,
                "has_more": start + limit < len(batches),
            }
        )

    # -- the work ----------------------------------------------------------------------------

    def create(self, data: Mapping[str, Any]) -> FakeBatch:
        endpoint = str(data.get("endpoint"))
        if endpoint not in BATCH_ENDPOINTS:
            raise ApiError(
                400, f"Unsupported endpoint {endpoint!r} in this fake.", param="endpoint"
            )
        if data.get("completion_window") != "24h":
            raise ApiError(400, "completion_window must be '24h'.", param="completion_window")
        stored = self.files.get(str(data.get("input_file_id")))
        if stored.purpose != "batch":
            raise ApiError(400, "The input file must have purpose 'batch'.", param="input_file_id")
        lines = [orjson.loads(line) for line in stored.data.splitlines() if line.strip()]
        models = {str(line.get("body", {}).get("model")) for line in lines}
        batch = FakeBatch(
            id=f"batch_{secrets.token_hex(12)}",
            input_file_id=stored.id,
            endpoint=endpoint,
            lines=lines,
            created_at=int(time.time()),
            due=self._clock() + self.delay_s,
            metadata=data.get("metadata"),
            model=models.pop() if len(models) == 1 else None,
        )
        if models:  # more than one model: the API refuses the whole file
            batch.status = "failed"
            batch.errors.append({"code": "model_mismatch", "message": "One model per batch."})
        with self._lock:
            batch.expire_after = self._expire.popleft() if self._expire else None
            self._batches[batch.id] = batch
            self.created += 1
        return batch

    def _advance(self, batch: FakeBatch) -> None:
        with self._lock:
            if batch.status == "cancelling":
                self._finish(batch, "cancelled", answer=0)
            elif batch.status in ALIVE and self._clock() >= batch.due:
                if batch.expire_after is None:
                    self._finish(batch, "completed", answer=len(batch.lines))
                else:
                    self._finish(batch, "expired", answer=batch.expire_after)

    def _finish(self, batch: FakeBatch, status: str, *, answer: int) -> None:
        outputs: list[bytes] = []
        errors: list[bytes] = []
        code, message = (
            ("batch_expired", EXPIRED_MESSAGE)
            if status == "expired"
            else ("batch_cancelled", CANCELLED_MESSAGE)
        )
        for index, line in enumerate(batch.lines):
            if index < answer:
                ok, result = self._answer(line, batch.endpoint)
                (outputs if ok else errors).append(orjson.dumps(result))
            else:
                error = {"code": code, "message": message}
                errors.append(orjson.dumps(_result_line(line, None, error)))
        batch.completed, batch.failed = len(outputs), len(errors)
        if outputs:
            name = f"{batch.id}_output.jsonl"
            batch.output_file_id = self.files.add(
                b"\n".join(outputs) + b"\n", filename=name, purpose="batch_output"
            ).id
        if errors:
            name = f"{batch.id}_error.jsonl"
            batch.error_file_id = self.files.add(
                b"\n".join(errors) + b"\n", filename=name, purpose="batch_output"
            ).id
        batch.status = status
        batch.finished[f"{status}_at"] = int(time.time())

    def _answer(self, line: Mapping[str, Any], endpoint: str) -> tuple[bool, dict[str, Any]]:
        """One line as its endpoint answers it: (succeeded, the output line)."""
        kind = KINDS[BATCH_ENDPOINTS[endpoint]]
        try:
            if line.get("url") != endpoint:
                message = f"The url {line.get('url')!r} does not match the batch's {endpoint!r}."
                raise ApiError(400, message, param="url")
            body = kind.validate(line.get("body"))
            model = body["model"]
            if not known.is_known_model(endpoint, model):
                raise fake_errors.model_not_found(model)
            prompt = kind.prompt(model, body)
            marked = find_marker(kind.messages(body))
            if marked is not None:
                fault = marked[0]
                if fault in CONNECTION_FAULTS:
                    raise fake_errors.server_error(500)
                raise fault_error(
                    fault,
                    model=model,
                    key=fake_errors.FAKE_KEY,  # a batch line has no key of its own
                    prompt_tokens=prompt,
                    window=self.context_window,
                    rpm=0,
                    hint=False,
                )
            if kind.windowed and prompt > self.context_window:
                raise fake_errors.context_length_exceeded(self.context_window, prompt)
        except ApiError as error:
            response = {"status_code": error.status, "request_id": _id("req"), "body": error.body()}
            return False, _result_line(line, response, None)
        digest = hashlib.blake2b(orjson.dumps(body, option=orjson.OPT_SORT_KEYS), digest_size=16)
        answer = kind.answer(body, prompt, self.quirks.pick(digest.digest(), kind.messages(body)))
        response = {"status_code": 200, "request_id": _id("req"), "body": answer}
        return True, _result_line(line, response, None)


def _result_line(
    line: Mapping[str, Any], response: dict[str, Any] | None, error: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "id": _id("batch_req"),
        "custom_id": line.get("custom_id"),
        "response": response,
        "error": error,
    }


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"
