"""Run settings: job file < environment and .env < command-line flags, resolved once.

The environment is read by `batchbot.environment` and passed in; this module only looks its
variables up.

The API key lives here and nowhere else: it is excluded from repr() and from `settings()`,
which is what the database and logs see.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from batchbot import environment as names
from batchbot import modes
from batchbot.answers.reask import DEFAULT_MAX_REASKS, ReaskPolicy
from batchbot.endpoints import Azure, on_this_machine
from batchbot.errors import ConfigError, redact_secrets
from batchbot.jobs.job import Job, JobSettings
from batchbot.jobs.settings import DETERMINISTIC, KEEP, NEVER, RETRY
from batchbot.jobs.values import SETTINGS, checked
from batchbot.limits import tiers
from batchbot.limits.limits import RateLimits

if TYPE_CHECKING:
    from tenacity import RetryCallState

T = TypeVar("T")

DEFAULT_DB = "batchbot.db"
DEFAULT_GRACE_S = 30.0
DEFAULT_TIMEOUT_S = 120.0
# Flex requests may wait for capacity: OpenAI suggests a timeout of 15 minutes for them.
FLEX_TIMEOUT_S = 900.0
DEFAULT_MAX_ATTEMPTS = 6
# How long a server that refuses every connection is waited for before the run stops.
DEFAULT_OUTAGE_WAIT_S = 300.0
# A realistic answer time for the simulated API, so --fake shows what a real run looks like.
FAKE_LATENCY_MS = 300.0
# Batch mode: the first pause between polls with --wait (it grows from there), and how long
# the simulated Batch API keeps a batch in progress.
DEFAULT_POLL_S = 30.0
FAKE_POLL_S = 0.5
FAKE_BATCH_DELAY_S = 2.0
# An Azure OpenAI api-version serving chat, embeddings and Responses.
DEFAULT_API_VERSION = "2025-04-01-preview"
NO_CAP = (
    "on_length: retry asks again with twice the max_tokens, up to a cap: add max_tokens_cap: "
    "to the job (or pass --max-tokens-cap)."
)
NOT_HTTP = (
    "base URL {url!r} is not an http(s) URL: give one like https://api.openai.com/v1 or "
    "http://localhost:8000/v1 (--base-url, OPENAI_BASE_URL)."
)
CREDENTIALS = (
    "base URL {url!r} has a user name or password in it: remove them and give the key as "
    "OPENAI_API_KEY (or AZURE_OPENAI_API_KEY), which is sent in a header and never stored. "
    "Nothing was sent."
)
OTHER_NUMBERS = frozenset(name for name in SETTINGS if name not in ("rpm", "tpm"))
_USERINFO = re.compile(r"(?<=//)[^/?#]*@")


@dataclass(frozen=True, slots=True)
class Config:
    """Everything a run needs besides the job's items."""

    db_path: Path = Path(DEFAULT_DB)
    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None
    fake: bool = False
    model: str | None = None
    tier: str = tiers.DEFAULT_TIER
    # Each limit with its source. A Config built by hand may give `rpm=`/`tpm=` instead: a
    # start for pacing, as a tier preset is; `limits=RateLimits.set_by_user(...)` caps them.
    limits: RateLimits = field(default_factory=RateLimits)
    rpm: float | None = None  # the values in `limits`, once built
    tpm: float | None = None
    concurrency: int = tiers.DEFAULT_CONCURRENCY
    token_count: str | None = None  # exact / chars; None: as the server is found to count
    timeout_s: float | None = None  # None: the mode's (request_timeout_s)
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    grace_s: float = DEFAULT_GRACE_S
    fake_latency_ms: float = FAKE_LATENCY_MS
    max_cost_usd: float | None = None
    max_cost_per_day_usd: float | None = None
    prices_file: Path | None = None
    mode: str = modes.SYNC  # sync / batch / auto (auto is resolved when the run starts)
    mode_from: str = "the default"  # who chose it: --mode, the job file or the default
    wait: bool = False
    batch_queue_tokens: int | None = None
    deadline_minutes: float | None = None
    poll_s: float = DEFAULT_POLL_S
    fake_batch_delay_s: float = FAKE_BATCH_DELAY_S
    wait_lock: bool = False
    outage_wait_s: float = DEFAULT_OUTAGE_WAIT_S
    azure: Azure | None = None
    on_invalid: str = KEEP  # keep / retry: re-ask an answer that does not follow its schema
    max_reasks: int = DEFAULT_MAX_REASKS  # ... at most this many times an item
    on_length: str = KEEP  # keep / retry: re-ask a cut-off answer with twice the max_tokens
    max_tokens_cap: int | None = None  # ... up to this many
    cache: str = DETERMINISTIC  # which earlier answers may stand for a request (jobs.caching)
    cache_path: Path | None = None  # a cache database shared across projects
    # Seconds before each retry of a transient error, a tenacity wait strategy such as
    # `wait_none()`; None: the server's hint, else jittered exponential backoff (api.policy).
    retry_wait: Callable[[RetryCallState], float] | None = field(default=None, compare=False)

    @property
    def request_timeout_s(self) -> float:
        """Seconds before one request is abandoned: --timeout, else the mode's default."""
        if self.timeout_s is not None:
            return self.timeout_s
        return FLEX_TIMEOUT_S if self.mode == modes.FLEX else DEFAULT_TIMEOUT_S

    def settings(self) -> dict[str, Any]:
        """The settings as stored with the run: everything but the key."""
        left_out = ("api_key", "retry_wait", "limits", "rpm", "tpm")
        kept = (f.name for f in fields(self) if f.name not in left_out)
        values = {name: getattr(self, name) for name in kept} | self.limits.stored()
        values["db_path"] = str(self.db_path)
        values["prices_file"] = str(self.prices_file) if self.prices_file else None
        values["cache_path"] = str(self.cache_path) if self.cache_path else None
        values["api_key_set"] = self.api_key is not None
        values["azure"] = vars_of(self.azure)
        return values

    def __post_init__(self) -> None:
        given = (self.rpm, self.tpm)
        if self.limits == RateLimits():
            object.__setattr__(self, "limits", RateLimits.preset(*given))
        elif given not in ((None, None), (self.limits.rpm.value, self.limits.tpm.value)):
            raise TypeError("give a Config's limits as limits= or as rpm=/tpm=, not both")
        object.__setattr__(self, "rpm", self.limits.rpm.value)
        object.__setattr__(self, "tpm", self.limits.tpm.value)

    @property
    def needs_key(self) -> bool:
        """Whether a run must have an API key: not for the simulated API, nor for a server on
        this machine (sent `endpoints.NO_KEY` when none is set)."""
        return not self.fake and not on_this_machine(self.base_url)

    def reask_policy(self) -> ReaskPolicy:
        """What the run asks again about (answers.reask)."""
        return ReaskPolicy(
            on_invalid=self.on_invalid == RETRY,
            max_reasks=self.max_reasks,
            on_length=self.on_length == RETRY,
            max_tokens_cap=self.max_tokens_cap,
        )


@dataclass(frozen=True, slots=True)
class Flags:
    """What the command line said; None means "not given"."""

    db_path: str | None = None
    base_url: str | None = None
    fake: bool = False
    model: str | None = None
    tier: str | None = None
    rpm: float | None = None
    tpm: float | None = None
    concurrency: int | None = None
    token_count: str | None = None
    timeout_s: float | None = None
    max_attempts: int | None = None
    grace_s: float | None = None
    max_cost_usd: float | None = None
    max_cost_per_day_usd: float | None = None
    prices_file: str | None = None
    mode: str | None = None
    wait: bool = False
    batch_queue_tokens: int | None = None
    deadline_minutes: float | None = None
    poll_s: float | None = None
    wait_lock: bool = False
    outage_wait_s: float | None = None
    azure_endpoint: str | None = None
    api_version: str | None = None
    on_invalid: str | None = None
    max_reasks: int | None = None
    on_length: str | None = None
    max_tokens_cap: int | None = None
    no_cache: bool = False
    cache_path: str | None = None


def resolve_config(job: Job, flags: Flags, env: Mapping[str, str]) -> Config:
    """Merge job settings, environment (incl. .env) and flags; flags win."""
    settings = job.settings
    model = flags.model or settings.model or _first_model(job)
    tier = flags.tier or settings.tier or tiers.DEFAULT_TIER
    preset = tiers.limits_for(tier, model or "")
    limits = RateLimits.chosen(
        (flags.rpm, flags.tpm),
        (settings.limits.rpm, settings.limits.tpm),
        (preset.rpm, preset.tpm),
    )
    concurrency = _first(flags.concurrency, settings.limits.concurrency, tiers.DEFAULT_CONCURRENCY)
    # rpm and tpm are checked by RateLimits, which names where each came from.
    given = {name: getattr(flags, name) for name in OTHER_NUMBERS if hasattr(flags, name)}
    _check_numbers({**given, "concurrency": concurrency})
    azure = _azure(flags, env)
    return Config(
        db_path=resolve_db_path(flags.db_path, env),
        api_key=env.get(names.AZURE_API_KEY if azure else names.API_KEY) or None,
        azure=azure,
        base_url=_base_url(flags, env),
        fake=flags.fake,
        model=model,
        tier=tier,
        limits=limits,
        concurrency=int(concurrency),
        token_count=flags.token_count or settings.token_count,
        timeout_s=flags.timeout_s,
        max_attempts=_first(flags.max_attempts, DEFAULT_MAX_ATTEMPTS),
        grace_s=_first(flags.grace_s, DEFAULT_GRACE_S),
        max_cost_usd=_maybe(flags.max_cost_usd, settings.budget_usd),
        max_cost_per_day_usd=_maybe(flags.max_cost_per_day_usd, settings.budget_usd_per_day),
        prices_file=_path(flags.prices_file or env.get(names.PRICES)),
        mode=flags.mode or settings.mode or modes.SYNC,
        mode_from=_mode_from(flags, settings.mode),
        # The simulated Batch API lives only as long as this process: wait for it.
        wait=flags.wait or flags.fake,
        batch_queue_tokens=flags.batch_queue_tokens,
        deadline_minutes=flags.deadline_minutes,
        poll_s=_first(flags.poll_s, FAKE_POLL_S if flags.fake else DEFAULT_POLL_S),
        wait_lock=flags.wait_lock,
        outage_wait_s=_first(flags.outage_wait_s, DEFAULT_OUTAGE_WAIT_S),
        **_reasks(flags, settings),
        cache=NEVER if flags.no_cache else settings.cache or DETERMINISTIC,
        cache_path=None if flags.no_cache else _path(flags.cache_path or env.get(names.CACHE)),
    )


def _reasks(flags: Flags, settings: JobSettings) -> dict[str, Any]:
    """The re-ask policy: flags over the job file; on_length: retry needs its cap."""
    on_length = _first(flags.on_length, settings.on_length, KEEP)
    cap = _maybe(flags.max_tokens_cap, settings.max_tokens_cap)
    if on_length == RETRY and cap is None:
        raise ConfigError(NO_CAP)
    return {
        "on_invalid": _first(flags.on_invalid, settings.on_invalid, KEEP),
        "max_reasks": _first(flags.max_reasks, settings.max_reasks, DEFAULT_MAX_REASKS),
        "on_length": on_length,
        "max_tokens_cap": cap,
    }


def _azure(flags: Flags, env: Mapping[str, str]) -> Azure | None:
    """The Azure OpenAI resource to call, if --azure-endpoint or AZURE_OPENAI_ENDPOINT names one."""
    url = flags.azure_endpoint or env.get(names.AZURE_ENDPOINT) or None
    if url is None:
        return None
    version = flags.api_version or env.get(names.API_VERSION) or DEFAULT_API_VERSION
    return Azure(checked_base_url(url) or url, version)


def vars_of(azure: Azure | None) -> dict[str, str] | None:
    return None if azure is None else {"endpoint": azure.endpoint, "api_version": azure.api_version}


def _mode_from(flags: Flags, job_mode: str | None) -> str:
    if flags.mode:
        return f"--mode {flags.mode}"
    return f"mode: {job_mode} in the job file" if job_mode else "the default"


def _base_url(flags: Flags, env: Mapping[str, str]) -> str | None:
    """The base URL to call; None with --fake, which serves its own (and keeps none)."""
    url = flags.base_url or env.get(names.BASE_URL) or None
    return None if flags.fake else checked_base_url(url)


def checked_base_url(url: str | None) -> str | None:
    """`url` if it can be an API's base URL (http or https, a host, a valid port) and holds
    no credentials, which would be sent beside the key and stored with the run."""
    if url is None:
        return None
    shown = masked_url(url)
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        _ = parts.port  # raises on a port that is not a number or out of range
    except ValueError:
        valid = False
    if not valid:
        raise ConfigError(NOT_HTTP.format(url=shown))
    if parts.username is not None or parts.password is not None:
        raise ConfigError(CREDENTIALS.format(url=shown))
    return url


def masked_url(url: str) -> str:
    """`url` with any user name and password (and anything key-shaped) replaced by `***`."""
    return redact_secrets(_USERINFO.sub("***@", url))


def _maybe(*values: T | None) -> T | None:
    return next((value for value in values if value is not None), None)


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def resolve_db_path(flag: str | None, env: Mapping[str, str]) -> Path:
    """--db, else BATCHBOT_DB, else ./batchbot.db."""
    return Path(flag or env.get(names.DB) or DEFAULT_DB)


def _first(*values: T | None) -> T:
    for value in values:
        if value is not None:
            return value
    raise AssertionError("the last value is a default and never None")


def _check_numbers(values: Mapping[str, float | None]) -> None:
    """Every numeric setting in its range (`jobs.values.SETTINGS`): the command line's types
    check them already, this is for callers of the library."""
    for name, value in values.items():
        if value is None:
            continue
        try:
            checked(value, SETTINGS[name])
        except ValueError as exc:
            raise ConfigError(f"{name} {exc}.") from None


def _first_model(job: Job) -> str | None:
    """A JSONL job names its model per line; the first line's picks the tier preset."""
    for item in job.items():
        model = item.body.get("model")
        return str(model) if model else None
    return None
