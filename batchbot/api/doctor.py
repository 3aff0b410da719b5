"""`batchbot doctor`: is this machine ready for an unattended run? One line per check.

    key        OPENAI_API_KEY present (its value is never shown, not even masked)
    database   the file (or its directory) can be written, and is not locked by a writer
    api        the base URL answers; one 1-token request, so the key is tried for real
    limits     the requests/min and tokens/min the server reports in its headers

Nothing here raises for a failed check: each becomes a Check with what to do about it.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from batchbot.api.client import ChatClient, Reply
from batchbot.api.exceptions import NoConnection, StatusError, TimedOut, causes, error_name
from batchbot.api.policy import ErrorClass, classify_error, run_stop_error
from batchbot.endpoints import NO_KEY, on_this_machine
from batchbot.errors import redact_secrets
from batchbot.pace.headers import parse_rate_limit_headers

PING = {"messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}
DEFAULT_URL = "https://api.openai.com/v1"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.name:<9} {self.detail}"


def run_checks(
    *,
    api_key: str | None,
    key_source: str,
    base_url: str | None,
    db_path: Path,
    model: str,
    timeout_s: float,
    key_needed: str | None = None,
) -> list[Check]:
    """Every check, in order; the API ones are skipped (and failed) without a key.

    `key_needed`: why no key is needed (the simulated API takes any); a server on this
    machine is tried without one too, since local OpenAI-compatible servers often need none.
    """
    if key_needed is None and not api_key and on_this_machine(base_url):
        key_needed = "a server on this machine may take none; the api check tries it"
    checks = [check_key(api_key, key_source, key_needed), check_database(db_path)]
    if api_key or key_needed:
        checks += asyncio.run(check_api(api_key or NO_KEY, base_url, model, timeout_s))
    else:
        checks.append(Check("api", False, "not tried: no key"))
    return checks


def check_key(api_key: str | None, source: str, not_needed: str | None = None) -> Check:
    if api_key:
        return Check("key", True, f"OPENAI_API_KEY is set ({source})")
    if not_needed:
        return Check("key", True, f"OPENAI_API_KEY is not set, and not needed: {not_needed}")
    return Check("key", False, "OPENAI_API_KEY is not set: put it in the environment or .env")


def check_database(path: Path) -> Check:
    """Writable without changing anything: an immediate transaction, rolled back at once."""
    if not path.exists():
        directory = path.parent if str(path.parent) else Path(".")
        try:
            with tempfile.TemporaryFile(dir=directory):
                pass
        except OSError as exc:
            return Check("database", False, f"cannot create {path}: {exc.strerror}")
        return Check("database", True, f"{path} will be created on the first run")
    try:
        conn = sqlite3.connect(path, timeout=1)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            requests = _count(conn, "requests")
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return Check("database", False, f"{path} is not writable: {exc}")
    if not os.access(path.parent if str(path.parent) else ".", os.W_OK):
        return Check("database", False, f"{path.parent} is not writable (WAL needs it)")
    answered = "" if requests is None else f", {requests:,} requests stored"
    return Check("database", True, f"{path} is writable{answered}")


def _count(conn: sqlite3.Connection, table: str) -> int | None:
    try:
        return int(conn.execute(f"select count(*) from {table}").fetchone()[0])
    except sqlite3.Error:
        return None


async def check_api(
    api_key: str, base_url: str | None, model: str, timeout_s: float
) -> list[Check]:
    url = base_url or DEFAULT_URL
    client = ChatClient(api_key=api_key, base_url=base_url, timeout=timeout_s)
    try:
        reply = await client.complete({"model": model, **PING})
    except StatusError as exc:
        if classify_error(exc) is ErrorClass.RUN_FATAL:
            problem = str(run_stop_error(exc, model))
        else:
            problem = redact_secrets(f"{exc.status_code}: {exc.message}")
        return [Check("api", False, f"{url} answered, but: {problem}")]
    except Exception as exc:  # refused, DNS, TLS, a body that is not JSON: all unusable
        return [Check("api", False, unreachable(url, exc, timeout_s))]
    finally:
        await client.close()
    works = "no key needed" if api_key == NO_KEY else "the key works"
    return [Check("api", True, f"{url} answers; {works} for {model}"), _limits(reply)]


REFUSED = (
    "{url} refused the connection: nothing listens there. Check --base-url (or "
    "OPENAI_BASE_URL), or start the server"
)
TIMED_OUT = (
    "{url} did not answer within {seconds:g} s: the server is slow, or the network drops the "
    "connection. Try again, or give it longer with --timeout"
)
UNREACHABLE = "{url} cannot be reached ({reason}): check --base-url"


def unreachable(url: str, exc: Exception, timeout_s: float) -> str:
    """Why the API could not be asked: a refused connection and a timeout are not one thing
    (the SDK's aiohttp transport calls both a timeout)."""
    if isinstance(exc, NoConnection):
        cause = [exc, *causes(exc)][-1]  # what the operating system said
        if isinstance(cause, ConnectionRefusedError):
            return REFUSED.format(url=url)
        return UNREACHABLE.format(
            url=url, reason=redact_secrets(f"{type(cause).__name__}: {cause}")
        )
    if isinstance(exc, TimedOut):
        return TIMED_OUT.format(url=url, seconds=timeout_s)
    return UNREACHABLE.format(url=url, reason=redact_secrets(f"{error_name(exc)}: {exc}"))


def _limits(reply: Reply) -> Check:
    limits = parse_rate_limit_headers(reply.headers)
    if limits.limit_requests is None and limits.limit_tokens is None:
        return Check("limits", True, "the server reports none (x-ratelimit-* headers absent)")
    rpm = "?" if limits.limit_requests is None else f"{limits.limit_requests:,}"
    tpm = "?" if limits.limit_tokens is None else f"{limits.limit_tokens:,}"
    return Check("limits", True, f"{rpm} requests/min, {tpm} tokens/min for {model_of(reply)}")


def model_of(reply: Reply) -> str:
    return reply.model or "this model"
