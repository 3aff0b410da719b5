"""Runs on this machine that use the same key tell each other what they use, through files.

Each sending run writes a small JSON file, four times a second, into a directory named after
its key (a hash of it, never the key), base URL and model, under the user's state directory
(`$BATCHBOT_STATE_DIR`, else `$XDG_STATE_HOME/batchbot`, else `~/.local/state/batchbot`):
the limits it has in force, what it sends, whether requests wait at its limiter, the share of
the key it uses. Under a lock it reads the others' and takes the share `pace.hostshare` gives
it. A run that ends deletes its file; one killed with `kill -9` is found gone (its process is,
or its file has not been written for `STALE_S`) by the next run to look, which deletes it.

Runs on other machines, and other programs, are not seen here: the server's headers and its
429s still tell of them (see `pace.sharing`). If the directory cannot be written the run goes
on alone, as before, and says so in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import filelock

from batchbot.environment import STATE_DIR, XDG_STATE_HOME, environment
from batchbot.logs import NOTICE
from batchbot.pace import hostshare
from batchbot.pace.hostshare import Claim
from batchbot.pace.levels import Sent
from batchbot.pace.limiter import Limiter

BEAT_S = 0.25  # how often a run tells the others, and reads them
STALE_S = 5.0  # a file not written for this long is a run that is gone
RATE_S = 2.0  # what a run sends is averaged over this long
HUNGRY_BEATS = 4  # requests waiting at any of this many beats: the run wants more
SUFFIX = ".json"
UNSHARED = (
    "cannot share the key with other runs on this machine through %s (%s): pacing alone; "
    "set BATCHBOT_STATE_DIR to a writable directory"
)

log = logging.getLogger("batchbot")


def state_dir() -> Path:
    """Where runs on this machine keep what they share: $BATCHBOT_STATE_DIR, else the XDG
    state directory (read as every setting is: batchbot.environment)."""
    env = environment()
    if env.get(STATE_DIR):
        return Path(env[STATE_DIR])
    base = env.get(XDG_STATE_HOME) or str(Path.home() / ".local" / "state")
    return Path(base) / "batchbot"


def key_hash(api_key: str) -> str:
    """A short name for a key that says nothing of it."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:12]


def plain_url(url: str) -> str:
    """`url` without any user or password in it."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True, slots=True)
class ServerId:
    """Which limits a run spends: its key's (as a hash), on a base URL, for a model."""

    key_hash: str
    base_url: str
    model: str

    @classmethod
    def of(cls, api_key: str, base_url: str, model: str) -> ServerId:
        return cls(key_hash(api_key), plain_url(base_url), model)


@dataclass(frozen=True, slots=True)
class Neighbour:
    """One run sharing a key on this machine, as `batchbot limits` lists it."""

    key: str  # its hash
    base_url: str
    model: str
    job: str
    pid: int
    limits: Mapping[str, float | None]  # in force: requests and tokens a minute
    share: Mapping[str, float]  # of requests, of tokens
    bound: list[str]  # the kinds it is held back by: it would take more of them
    started: float  # wall-clock time


class KeyShare:
    """This run's file among those of the runs on its key, and the share it takes."""

    def __init__(self, root: Path, limiter: Limiter, about: Mapping[str, Any]) -> None:
        group = json.dumps([about["key"], about["base_url"], about["model"]])
        self.directory = root / "pace" / hashlib.sha256(group.encode()).hexdigest()[:16]
        self.path = self.directory / f"{os.getpid()}-{secrets.token_hex(4)}{SUFFIX}"
        self._lock = filelock.FileLock(self.directory / ".lock", timeout=BEAT_S)
        self._limiter, self._about = limiter, dict(about)
        self._samples: deque[tuple[float, Sent, bool]] = deque()
        self._in_use: dict[str, float] = dict.fromkeys(hostshare.KINDS, 0.0)
        self._seen: dict[str, tuple[float, float]] = {}  # others' sends when last read
        self._records: dict[str, dict[str, Any]] = {}  # others' files, as last read
        self._failed = False

    def beat(self) -> None:
        """Tell the others what this run uses, read theirs, and pace at the share left."""
        sent = self._limiter.sent
        self._samples.append((sent.at, sent, self._limiter.waiting > 0))
        while len(self._samples) > 2 and self._samples[1][0] <= sent.at - RATE_S:
            self._samples.popleft()
        try:
            with self._lock:
                others = self._read_others()
                claims = {**others, self.path.name: self._claim()}
                self._in_use = hostshare.share_now(self.path.name, claims)
                self._write(self._claim())
        except filelock.Timeout:
            return  # another run holds the lock a long while: keep the share as it is
        except OSError as exc:
            if not self._failed:
                self._failed = True
                log.info(UNSHARED, self.directory.parent.parent, exc, extra={NOTICE: True})
            return
        self._count_their_sends(others)
        limits = self._claim().limits
        paces = hostshare.paces(self._in_use, limits, claims.values())
        # With none of the key, the run is held until the others have given up their part.
        self._limiter.share_host(paces, neighbours=bool(others))

    def close(self) -> None:
        """This run ends: its share is free at once."""
        with contextlib.suppress(OSError):
            self.path.unlink()

    def _claim(self) -> Claim:
        first, last = self._samples[0], self._samples[-1]
        span = last[0] - first[0]
        rates = {
            kind: (last[1].of(kind) - first[1].of(kind)) / span * 60 if span > 0 else 0.0
            for kind in hostshare.KINDS
        }
        limits = {"requests": self._limiter.rpm, "tokens": self._limiter.tpm}
        return Claim(limits, rates, self._bound(rates, limits), dict(self._in_use))

    def _bound(self, rates: Mapping[str, float], limits: Mapping[str, float | None]) -> list[str]:
        """The kinds this run is held back by: requests wait at its limiter, and it sends near
        what its pace allows in them (in all, if in none: it is held by a pause, or starting)."""
        recent = list(self._samples)[-HUNGRY_BEATS:]
        if len(self._samples) > 1 and not any(waiting for _, _, waiting in recent):
            return []
        paces = self._limiter.paces
        held = [
            kind
            for kind, limit in limits.items()
            if limit and rates[kind] >= hostshare.BOUND * paces[kind] * limit
        ]
        return held or list(hostshare.KINDS)

    def _write(self, claim: Claim) -> None:
        record = {
            **self._about,
            "pid": os.getpid(),
            "beat": time.time(),
            "limits": claim.limits,
            "rates": claim.rates,
            "bound": list(claim.bound),
            "in_use": claim.in_use,
            "sent": {kind: self._limiter.sent.of(kind) for kind in hostshare.KINDS},
        }
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps(record), encoding="utf-8")
        os.replace(partial, self.path)

    def _read_others(self) -> dict[str, Claim]:
        claims = {}
        self._records = {}
        for path, record in _live(self.directory, remove=True):
            if path.name == self.path.name:
                continue
            self._records[path.name] = record
            claims[path.name] = Claim(
                record["limits"], record["rates"], record["bound"], record["in_use"]
            )
        return claims

    def _count_their_sends(self, others: Mapping[str, Claim]) -> None:
        """What the others sent since the last beat is theirs, not an outsider's."""
        requests = tokens = 0.0
        seen = {}
        for name in others:
            sent = self._records[name]["sent"]
            now = (float(sent["requests"]), float(sent["tokens"]))
            before = self._seen.get(name, now)
            requests += now[0] - before[0]
            tokens += now[1] - before[1]
            seen[name] = now
        self._seen = seen
        if requests or tokens:
            self._limiter.neighbours_sent(requests, tokens)


def _live(directory: Path, *, remove: bool = False) -> list[tuple[Path, dict[str, Any]]]:
    """The runs whose files are in `directory` and still going; `remove` the others' files."""
    found = []
    for path in directory.glob(f"*{SUFFIX}") if directory.is_dir() else ():
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if _alive(record):
            found.append((path, record))
        elif remove:
            with contextlib.suppress(OSError):
                path.unlink()
    return found


def _alive(record: Mapping[str, Any]) -> bool:
    if time.time() - float(record.get("beat", 0)) > STALE_S:
        return False
    try:
        os.kill(int(record["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, KeyError, ValueError):
        pass  # another user's process, or a record we cannot check: its beat decides
    return True


def neighbours(root: Path | None = None) -> list[Neighbour]:
    """Every run on this machine sharing a key now, by key, base URL and model."""
    root = root or state_dir()
    found = []
    for directory in sorted((root / "pace").glob("*")):
        for _, record in _live(directory):
            found.append(
                Neighbour(
                    key=str(record["key"]),
                    base_url=str(record["base_url"]),
                    model=str(record["model"]),
                    job=str(record["job"]),
                    pid=int(record["pid"]),
                    limits=dict(record["limits"]),
                    share=dict(record["in_use"]),
                    bound=list(record["bound"]),
                    started=float(record["started"]),
                )
            )
    return sorted(found, key=lambda n: (n.key, n.base_url, n.model, n.started))


@contextlib.asynccontextmanager
async def sharing_the_key(
    limiter: Limiter, server: ServerId, job: str
) -> AsyncIterator[KeyShare | None]:
    """While the body runs, share the key with the other runs on this machine that use it."""
    about = {
        "key": server.key_hash,
        "base_url": server.base_url,
        "model": server.model,
        "job": job,
        "started": time.time(),
    }
    share = KeyShare(state_dir(), limiter, about)
    share.beat()  # before the first request: a newcomer waits for the others to make room
    task = asyncio.create_task(_beats(share))
    try:
        yield share
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        share.close()


async def _beats(share: KeyShare) -> None:
    while True:
        await asyncio.sleep(BEAT_S)
        share.beat()
