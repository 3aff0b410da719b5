"""Job files in, a stream of Items out: YAML (settings + prompts, or template + inputs) or JSONL.

    job = load_job("jobs/faq.yaml", model=None, params=None)   # settings checked
    count = job.validate()                                      # every item checked
    for item in job.items(): ...                                # streamed, never a list

`load_job` reads the settings, which are cheap; `validate` reads every item, so a broken line
90,000 stops the run before anything is sent. Every problem is a JobFileError that names the
file, line, column and field. The formats live in `jobfile_yaml`, `jobfile_inputs` and
`jobfile_jsonl`; they all produce Drafts (`jobfile_bodies`), which become Items here.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from batchbot.endpoints import CHAT
from batchbot.errors import ConfigError, JobFileError
from batchbot.jobs.bodies import RESERVED, Draft, DraftSource
from batchbot.jobs.jsonl import jsonl_source
from batchbot.jobs.settings import JobSettings, Limits
from batchbot.jobs.yamlfile import load_yaml_job

__all__ = ["Item", "Job", "JobSettings", "Limits", "load_job", "request_hash"]

YAML_SUFFIXES = (".yaml", ".yml")
JSONL_SUFFIXES = (".jsonl",)
# A million lines take about 20 s to check: a display hears the count about every 2 s.
CHECKED_EVERY = 100_000
# Loops over a job's items give the event loop a turn this often, so that signals and the
# progress display get in during long stretches of items that need no request.
YIELD_EVERY_ITEMS = 500
ID_LENGTH = 16  # hex digits of the request hash used as an id when none is given
UNKNOWN_FORMAT = "is not a job file: use .yaml or .yml (settings + prompts) or .jsonl (requests)"
SURROGATE = "contains an unpaired surrogate escape (\\ud800-\\udfff): the API cannot take it"
OWN_OPTION = {"model": "pass the model with --model", "messages": "messages come from the job"}
DUPLICATE_ID = "duplicate id {id!r}: line {first} has it too; give each item its own id"
DUPLICATE_REQUEST = "the same request as line {first}: remove one, or give each an id"
# The canonical JSON a request hash is taken of; changing it changes every stored hash.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


@dataclass(frozen=True, slots=True)
class Item:
    """One request: its id, its full request body, the body's hash, its source line.

    A packed request (several embedding items in one) is an Item too, whose `members` are the
    items it carries; its results are stored per member.
    """

    id: str
    body: dict[str, Any]
    request_hash: str
    line: int
    members: tuple[Item, ...] = ()


@dataclass(frozen=True)
class Job:
    """A loaded job: name, path, settings, and its items, read afresh on each call."""

    name: str
    path: Path
    settings: JobSettings
    source: DraftSource = field(repr=False, compare=False)

    @property
    def endpoint(self) -> str:
        """The API endpoint every item of this job calls."""
        return self.settings.endpoint or CHAT

    def items(self) -> Iterator[Item]:
        """Every item, streamed from the file; each call starts over."""
        for draft in self.source.read():
            yield _item(draft)

    def validate(self, checked: Callable[[int], None] | None = None) -> int:
        """Read every item and return how many; raise JobFileError on the first problem.

        `checked(count)` hears how far a big job has got, every CHECKED_EVERY items.
        """
        count = 0
        for count in self.checking(CHECKED_EVERY):
            if checked is not None and count % CHECKED_EVERY == 0:
                checked(count)
        return count

    def checking(self, every: int) -> Iterator[int]:
        """Check every item, telling how many so far every `every` items and once at the end
        (the whole count); raise JobFileError on the first problem."""
        seen = _SeenIds(self)
        count = 0
        for draft in self.source.read():
            seen.add(count, draft, _item(draft))
            count += 1
            if count % every == 0:
                yield count
        if count == 0:
            raise JobFileError(self.source.empty_path, self.source.empty_message)
        if count % every:
            yield count


def load_job(
    path: str | Path,
    *,
    model: str | None = None,
    params: Mapping[str, Any] | None = None,
    endpoint: str | None = None,
) -> Job:
    """Load a job file; `model`, `params` and `endpoint` (CLI overrides) win over the file."""
    path = Path(path)
    overrides = MappingProxyType(dict(params or {}))
    for name in RESERVED:
        if name in overrides:
            raise ConfigError(f"params cannot set {name!r}: {OWN_OPTION[name]}")
    suffix = path.suffix.lower()
    if suffix in YAML_SUFFIXES:
        name, settings, source = load_yaml_job(
            path, model=model, overrides=overrides, endpoint=endpoint
        )
        return Job(name, path, settings, source)
    if suffix in JSONL_SUFFIXES:
        endpoint, source = jsonl_source(path, model=model, overrides=overrides, endpoint=endpoint)
        return Job(path.stem, path, JobSettings(endpoint=endpoint), source)
    raise JobFileError(path, UNKNOWN_FORMAT)


def request_hash(body: Mapping[str, Any]) -> str:
    """sha256 of the body's canonical JSON: the same request always has the same hash."""
    return hashlib.sha256(_CANONICAL.encode(dict(body)).encode("utf-8")).hexdigest()


def _item(draft: Draft) -> Item:
    try:
        digest = request_hash(draft.body)
    except UnicodeEncodeError:
        raise JobFileError(draft.path, SURROGATE, line=draft.line) from None
    item_id = digest[:ID_LENGTH] if draft.id is None else draft.id
    return Item(item_id, draft.body, digest, draft.line)


class _SeenIds:
    """The ids validate() has met, kept as 64-bit digests so millions of them stay small.

    A digest seen before is only a suspect: the job is read again up to there to find the
    earlier item with the very same id, so a digest collision can never be reported as a
    duplicate. Real duplicates stop validation, so the re-read happens at most once.
    """

    def __init__(self, job: Job) -> None:
        self._job = job
        self._digests = _DigestSet()

    def add(self, index: int, draft: Draft, item: Item) -> None:
        if self._digests.add(_digest(item.id)):
            first = self._earlier(item.id, index)
            if first is not None:
                template = DUPLICATE_ID if draft.id is not None else DUPLICATE_REQUEST
                message = template.format(id=item.id, first=first.line)
                raise JobFileError(draft.path, message, line=item.line)

    def _earlier(self, item_id: str, index: int) -> Item | None:
        for position, earlier in enumerate(self._job.items()):
            if position == index:
                return None
            if earlier.id == item_id:
                return earlier
        return None


class _DigestSet:
    """64-bit digests in one flat array, open addressing, at most half full.

    16-32 bytes a digest where a Python set of them takes ~80: for a million ids, ~25 MB at
    the peak instead of ~80.
    """

    def __init__(self) -> None:
        self._slots = array("Q", bytes(8 * 1024))
        self._count = 0

    def add(self, digest: int) -> bool:
        """Add `digest`; True if it was there already."""
        digest = digest or 1  # 0 marks a free slot; the clash this makes is only a suspect
        slots = self._slots
        mask = len(slots) - 1
        index = digest & mask
        while (found := slots[index]) != 0:
            if found == digest:
                return True
            index = (index + 1) & mask
        slots[index] = digest
        self._count += 1
        if self._count * 2 > len(slots):
            self._grow()
        return False

    def _grow(self) -> None:
        old = self._slots
        self._slots = array("Q", bytes(16 * len(old)))
        self._count = 0
        for digest in old:
            if digest:
                self.add(digest)


def _digest(item_id: str) -> int:
    raw = hashlib.blake2b(item_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(raw, "little")
