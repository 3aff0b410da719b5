"""Splitting a job's items into Batch API input files, within OpenAI's limits.

One file holds requests for one model only (the API refuses mixed files), at most
MAX_REQUESTS lines and MAX_BYTES bytes, and a model's files together may not hold more prompt
tokens than its enqueued-token limit leaves room for (the org's `batch_queue_tokens` minus what
its batches already hold). Items that do not fit wait for the next run, when the batches
ahead of them are done; an item bigger than the whole queue is counted apart (it can only be
sent synchronously).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from batchbot.endpoints import CHAT
from batchbot.jobs.job import Item

MAX_REQUESTS = 50_000
MAX_BYTES = 200_000_000  # "200 MB": read as decimal megabytes, the smaller reading


def input_line(item: Item, endpoint: str = CHAT) -> bytes:
    """The item as one line of a Batch API input file; its id is the line's custom_id."""
    line = {"custom_id": item.id, "method": "POST", "url": endpoint, "body": item.body}
    return orjson.dumps(line) + b"\n"


@dataclass
class InputFile:
    """One input file being filled: its items, its bytes, the prompt tokens they hold and,
    under a budget, each item's worst case in USD."""

    model: str
    items: list[Item] = field(default_factory=list)
    lines: list[bytes] = field(default_factory=list)
    worst: list[float] = field(default_factory=list)
    size: int = 0
    tokens: int = 0
    worst_usd: float = 0.0

    def add(self, item: Item, line: bytes, tokens: int, worst_usd: float = 0.0) -> None:
        self.items.append(item)
        self.lines.append(line)
        self.worst.append(worst_usd)
        self.size += len(line)
        self.tokens += tokens
        self.worst_usd += worst_usd

    @property
    def data(self) -> bytes:
        return b"".join(self.lines)


class Splitter:
    """Feed items with `add`; full files come back as they fill up, the rest from `finish`.

    `queue(model)` gives the model's enqueued-token limit (None: none) and how many prompt
    tokens its open batches already hold; it is asked once per model.
    """

    def __init__(
        self,
        queue: Callable[[str], tuple[int | None, int]],
        *,
        max_requests: int = MAX_REQUESTS,
        max_bytes: int = MAX_BYTES,
        endpoint: str = CHAT,
    ) -> None:
        self._queue_of = queue
        self.endpoint = endpoint
        self.max_requests, self.max_bytes = max_requests, max_bytes
        self._open: dict[str, InputFile] = {}
        self._queue: dict[str, tuple[int | None, int]] = {}  # model -> (limit, tokens held)
        self.deferred = 0  # items left for a later run: the queue is full
        self.too_big = 0  # items whose prompt alone exceeds the whole queue limit

    @property
    def pending_usd(self) -> float:
        """The worst case of the items in files still filling: not submitted, not reserved."""
        return sum(input_file.worst_usd for input_file in self._open.values())

    def add(self, item: Item, tokens: int, worst_usd: float = 0.0) -> list[InputFile]:
        """Put `item` (`tokens` prompt tokens, at worst `worst_usd`) in its model's file;
        return files now full."""
        model = str(item.body.get("model"))
        if model not in self._queue:
            self._queue[model] = self._queue_of(model)
        limit, held = self._queue[model]
        if limit is not None and tokens > limit:
            self.too_big += 1
            return []
        if limit is not None and held + tokens > limit:
            self.deferred += 1
            return []
        self._queue[model] = (limit, held + tokens)
        line = input_line(item, self.endpoint)
        full: list[InputFile] = []
        current = self._open.get(model)
        if current and (
            len(current.items) >= self.max_requests or current.size + len(line) > self.max_bytes
        ):
            full.append(self._open.pop(model))
        self._open.setdefault(model, InputFile(model)).add(item, line, tokens, worst_usd)
        return full

    def finish(self) -> list[InputFile]:
        """The files still filling, however small."""
        files = list(self._open.values())
        self._open.clear()
        return files
