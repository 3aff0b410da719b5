"""The Files and Batches endpoints batch mode uses, under batchbot's one error policy.

Transient errors are retried (policy.retrying); anything else the API refuses becomes a
RunStopped that says what was refused and why, as a sync run stops on a bad key. Creating a
batch is the one call that must not simply be repeated: after a failed try, the batch may exist
anyway, so it is looked for (by its input file) before trying again.

Looking for it lists batches, which some servers refuse (a gateway without `GET /v1/batches`)
or fail at: then `find` answers `Unchecked` instead of stopping the run, and nothing that may
exist is created again; every other call goes on by batch id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

import openai
from openai.types import Batch

from batchbot.api import policy
from batchbot.api.exceptions import ApiError, StatusError, error_name, mapped_errors
from batchbot.endpoints import CHAT
from batchbot.errors import AuthError, EndpointNotFound, QuotaExhausted, RunStopped, redact_secrets
from batchbot.outcome import utc_now

T = TypeVar("T")

ADOPT_MARGIN_S = 3600  # how far before a row's creation a matching batch is looked for
LIST_PAGE = 100

REFUSED = (
    "The Batch API refused to {what} ({error}); nothing is lost: fix the cause and run the same "
    "command again"
)
NO_BATCH_API = (
    "The server answered 404 when asked to {what}: check --base-url / OPENAI_BASE_URL, and that "
    "the server offers the Files and Batch APIs (else use --mode sync)"
)
UNREACHABLE = (
    "Could not reach the API to {what} ({error}), retries included; nothing is lost: run the "
    "same command again"
)


@dataclass(frozen=True, slots=True)
class Unchecked:
    """Listing batches failed: whether a batch was created from a file cannot be known now."""

    reason: str


class BatchApi:
    """Upload, create, retrieve, find, cancel and read results; see the module docstring."""

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        *,
        max_attempts: int,
        model: str = "",
        endpoint: str = CHAT,
        wait: policy.Wait | None = None,
    ) -> None:
        """`wait`: before each retry, as policy.retrying takes it."""
        self.client, self.max_attempts, self.model = client, max_attempts, model
        self.endpoint, self.wait = endpoint, wait

    async def upload(self, filename: str, data: bytes) -> str:
        """Upload an input file (`purpose=batch`); its file id."""
        uploaded = await self._call(
            lambda: self.client.files.create(file=(filename, data), purpose="batch"),
            what=f"upload {filename}",
        )
        return uploaded.id

    async def create(self, file_id: str, metadata: Mapping[str, str]) -> Batch | Unchecked:
        """A batch of `file_id`'s requests, created once however often it is tried; Unchecked
        when a try failed and listing batches cannot tell whether it made one."""
        tries = 0

        async def create() -> Batch | Unchecked:
            nonlocal tries
            tries += 1
            if tries > 1:
                found = await self.find(file_id, since=utc_now())
                if found is not None:
                    return found
            return await self.client.batches.create(
                input_file_id=file_id,
                endpoint=cast(Any, self.endpoint),  # one of the SDK's literals, as a str
                completion_window="24h",
                metadata=dict(metadata),
            )

        return await self._call(create, what=f"create a batch from {file_id}")

    async def retrieve(self, batch_id: str) -> Batch:
        return await self._call(
            lambda: self.client.batches.retrieve(batch_id), what=f"look up {batch_id}"
        )

    async def cancel(self, batch_id: str) -> Batch:
        return await self._call(
            lambda: self.client.batches.cancel(batch_id), what=f"cancel {batch_id}"
        )

    async def find(self, file_id: str, *, since: str) -> Batch | Unchecked | None:
        """The batch created from `file_id`, looking back no further than `since` (ISO time);
        None if there is none, Unchecked if listing failed (a bad key still stops the run)."""
        cutoff = datetime.fromisoformat(since).timestamp() - ADOPT_MARGIN_S
        try:
            page = await self._call(
                lambda: self.client.batches.list(limit=LIST_PAGE), what="list batches"
            )
            with mapped_errors():
                async for batch in page:  # newest first, the next pages fetched as needed
                    if batch.input_file_id == file_id:
                        return batch
                    if batch.created_at < cutoff:
                        break
        except (AuthError, QuotaExhausted):
            raise
        except RunStopped as exc:
            return Unchecked(str(exc))
        except ApiError as exc:  # a later page
            return Unchecked(REFUSED.format(what="list batches", error=describe(exc)))
        return None

    async def lines(self, file_id: str) -> AsyncIterator[str]:
        """A result file's lines, streamed: output files run to hundreds of megabytes."""
        with mapped_errors():
            content = self.client.files.with_streaming_response.content(file_id)
            async with content as response:
                async for line in response.iter_lines():
                    if line.strip():
                        yield line

    async def _call(self, make: Callable[[], Awaitable[T]], *, what: str) -> T:
        try:
            async for attempt in policy.retrying(max_attempts=self.max_attempts, wait=self.wait):
                with attempt, mapped_errors():
                    return await make()
        except StatusError as exc:
            raise refusal(exc, what, self.model) from exc
        except ApiError as exc:
            raise RunStopped(UNREACHABLE.format(what=what, error=describe(exc))) from exc
        raise AssertionError("retrying either returns or raises")


def refusal(exc: StatusError, what: str, model: str) -> RunStopped:
    """The RunStopped for an error answer that retrying did not (or cannot) cure."""
    if exc.status_code == 404 and exc.code != "model_not_found":
        return EndpointNotFound(NO_BATCH_API.format(what=what))
    if policy.classify_error(exc) is policy.ErrorClass.RUN_FATAL:
        return policy.run_stop_error(exc, model)
    error = redact_secrets(f"{exc.status_code}: {exc.message}")
    return RunStopped(REFUSED.format(what=what, error=error))


def describe(exc: Exception) -> str:
    return redact_secrets(f"{error_name(exc)}: {exc}")
