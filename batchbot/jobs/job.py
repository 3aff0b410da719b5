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
import math
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from batchbot.endpoints import CHAT
from batchbot.errors import ConfigError, JobFileError
from batchbot.jobs.bodies import RESERVED, Draft, DraftSource
from batchbot.jobs.fields import FieldPath, render_path
from batchbot.jobs.jsonl import jsonl_source
from batchbot.jobs.params import unknown_message, unknown_parameters
from batchbot.jobs.settings import JobSettings, Limits
from batchbot.jobs.values import parameter_problem
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
INFINITE = "is too large a number (it reads as infinity): no API takes it; use a smaller one"
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
    metadata: str | None = None  # the item's own metadata (JSON text), stored, never sent


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

    def validate(
        self,
        checked: Callable[[int], None] | None = None,
        *,
        check: Callable[[Item], None] | None = None,
    ) -> int:
        """Read every item and return how many; raise JobFileError on the first problem.

        `checked(count)` hears how far a big job has got, every CHECKED_EVERY items;
        `check(item)` may refuse an item for what the run's settings need (it raises).
        """
        count = 0
        for count in self.checking(CHECKED_EVERY, check=check):
            if checked is not None and count % CHECKED_EVERY == 0:
                checked(count)
        return count

    def checking(self, every: int, *, check: Callable[[Item], None] | None = None) -> Iterator[int]:
        """Check every item (and `check(item)` each, as `validate`), telling how many so far
        every `every` items and once at the end (the whole count); raise JobFileError on the
        first problem."""
        seen = _SeenIds(self)
        count = 0
        for draft in self.source.read():
            item = _item(draft)
            seen.add(count, draft, item)
            if check is not None:
                check(item)
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
    allow_params: Iterable[str] = (),
) -> Job:
    """Load a job file; `model`, `params` and `endpoint` (CLI overrides) win over the file.

    `allow_params`: parameter names the endpoint does not have that the job may send anyway
    (a compatible server's own; `--allow-param`), which are otherwise a job file error.
    """
    path = Path(path)
    allowed = frozenset(allow_params)
    overrides = MappingProxyType(dict(params or {}))
    for name in RESERVED:
        if name in overrides:
            raise ConfigError(f"params cannot set {name!r}: {OWN_OPTION[name]}")
    problem = parameter_problem(overrides)
    if problem is not None:
        where, message = problem
        raise ConfigError(f"params: {render_path(where)} {message}")
    suffix = path.suffix.lower()
    if suffix in YAML_SUFFIXES:
        name, settings, source = load_yaml_job(
            path, model=model, overrides=overrides, endpoint=endpoint, allowed=allowed
        )
        job = Job(name, path, settings, source)
    elif suffix in JSONL_SUFFIXES:
        endpoint, source = jsonl_source(
            path, model=model, overrides=overrides, endpoint=endpoint, allowed=allowed
        )
        job = Job(path.stem, path, JobSettings(endpoint=endpoint), source)
    else:
        raise JobFileError(path, UNKNOWN_FORMAT)
    allowed |= frozenset(job.settings.extra_params)
    for name in unknown_parameters(overrides, job.endpoint, allowed):
        raise ConfigError(f"params.{name}: {unknown_message(name, job.endpoint)}")
    return job


def request_hash(body: Mapping[str, Any]) -> str:
    """sha256 of the body's canonical JSON: the same request always has the same hash."""
    return hashlib.sha256(_CANONICAL.encode(dict(body)).encode("utf-8")).hexdigest()


def _item(draft: Draft) -> Item:
    try:
        digest = request_hash(draft.body)
    except UnicodeEncodeError:
        raise JobFileError(draft.path, SURROGATE, line=draft.line) from None
    except ValueError:  # JSON's 1e400 is read as infinity, which JSON cannot write
        field = render_path(_infinite(draft.body) or ())
        raise JobFileError(draft.path, INFINITE, line=draft.line, field=field or None) from None
    item_id = digest[:ID_LENGTH] if draft.id is None else draft.id
    return Item(item_id, draft.body, digest, draft.line, metadata=draft.metadata)


def _infinite(value: object, path: FieldPath = ()) -> FieldPath | None:
    """Where in `value` the first infinite or NaN number is, if anywhere."""
    if isinstance(value, float) and not math.isfinite(value):
        return path
    children = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, child in children:
        found = _infinite(child, (*path, key))
        if found is not None:
            return found
    return None


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
