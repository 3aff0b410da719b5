"""--dry-run: what a run would send, cost and take by its limits, with no network.

The worst case is what a budget reserves: every prompt at the input price (an image of unknown
size at the most the model charges for one) and every completion allowance used in full at the
output price. The expected cost assumes answers as long, on average, as this job's earlier
answers in the database, or half the allowance when there are none yet. Token counts and time
count an image of unknown size as a typical one, as pacing does; the items that needed such a
guess are counted by what was guessed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from batchbot import modes
from batchbot.config import Config
from batchbot.endpoints import DEFAULT_PACK, packs
from batchbot.jobs.job import Job
from batchbot.jobs.prices import load_price_file
from batchbot.money.pricing import Pricer, did_you_mean
from batchbot.run.preflight import Preflight, against_openai
from batchbot.store.store import Store
from batchbot.tally import items
from batchbot.tokens.cost import cost_of
from batchbot.tokens.count import DEFAULT_COMPLETION_ALLOWANCE, TokenCount

# What each kind of guess means, for the dry-run's "assumed" lines (see docs/tokens.md).
ASSUMPTIONS = {
    "remote image": "{n:,} item(s) with an image by URL of unknown size: counted as "
    "1024 x 1024, and at the most the model charges for one image in the 'at most' cost; "
    "end the URL with #WIDTHxHEIGHT to give the size",
    "unreadable image": "{n:,} item(s) with a data URL that is not a PNG, JPEG, GIF or WebP "
    "image: counted as an image of unknown size",
    "audio": "{n:,} item(s) with audio: 10 tokens a second",
    "file": "{n:,} item(s) with a file: a token per 4 bytes, 1,024 for a file_id",
}
UNKNOWN_MODEL = (
    "{model!r} is not a model batchbot knows{suggestion}: a run asks the API first, and stops "
    "before sending anything if the API does not have it either"
)


@dataclass(frozen=True, slots=True)
class Estimate:
    job: str
    items: int
    already_answered: int
    to_send: int
    tokens: TokenCount  # summed over the items to send, part by part
    rpm: float | None
    tpm: float | None
    worst_prompt_tokens: int = 0  # with every image of unknown size at its most
    worst_cost_usd: float = 0.0
    expected_cost_usd: float = 0.0
    unpriced_models: tuple[str, ...] = ()
    uncapped: int = 0  # items with no max_tokens: their allowance is assumed
    assumed: Mapping[str, int] = field(default_factory=dict)  # items by what was guessed
    requests: int | None = None  # requests to send, when items are packed several to one
    asks_models: bool = False  # a run asks OpenAI's API about models with no price

    @property
    def prompt_tokens(self) -> int:
        return self.tokens.prompt

    @property
    def completion_allowance(self) -> int:
        return self.tokens.allowance

    def assumptions(self) -> list[str]:
        """One sentence for each kind of guess the token count made."""
        return [ASSUMPTIONS[kind].format(n=n) for kind, n in sorted(self.assumed.items())]

    def warnings(self) -> list[str]:
        """What the dry run found that a real run would regret: models OpenAI may not have,
        guessed allowances."""
        lines = [
            UNKNOWN_MODEL.format(model=model, suggestion=did_you_mean(model))
            for model in (self.unpriced_models if self.asks_models else ())
        ]
        if self.uncapped:
            lines.append(
                f"{items(self.uncapped)} set no max_tokens: each is assumed "
                f"to use up to {DEFAULT_COMPLETION_ALLOWANCE:,} completion tokens"
            )
        return lines

    @property
    def minutes(self) -> float:
        """The time the rate limits imply for what is left to send."""
        requests = self.to_send if self.requests is None else self.requests
        by_requests = requests / self.rpm if self.rpm else 0.0
        by_tokens = self.tokens.total / self.tpm if self.tpm else 0.0
        return max(by_requests, by_tokens)

    def as_dict(self) -> dict[str, Any]:
        """The estimate for scripts (`--dry-run --json`)."""
        parts = self.tokens
        return {
            "job": self.job,
            "items": self.items,
            "already_answered": self.already_answered,
            "to_send": self.to_send,
            "requests": self.to_send if self.requests is None else self.requests,
            "prompt_tokens": parts.prompt,
            "prompt_parts": {
                "text": parts.text,
                "tools": parts.tools,
                "images": parts.images,
                "schema": parts.schema,
                "audio_and_files": parts.files,
            },
            "completion_allowance": parts.allowance,
            "worst_prompt_tokens": self.worst_prompt_tokens,
            "assumed": dict(self.assumed),
            "worst_cost_usd": round(self.worst_cost_usd, 6),
            "expected_cost_usd": round(self.expected_cost_usd, 6),
            "unpriced_models": list(self.unpriced_models),
            "warnings": self.warnings(),
            "rpm": self.rpm,
            "tpm": self.tpm,
            "minutes": round(self.minutes, 2),
        }


def pricer_for(job: Job, config: Config) -> Pricer:
    """The job's prices over the prices file's over genai-prices'; reads the file now."""
    file_prices = load_price_file(config.prices_file) if config.prices_file else None
    return Pricer(
        job_prices=job.settings.prices, file_prices=file_prices, price_as=job.settings.price_as
    )


def estimate_job(job: Job, config: Config) -> Estimate:
    """Count items, skip answered ones (if the database exists) and sum their tokens."""
    pricer = pricer_for(job, config)
    items = job.validate(check=Preflight(job, config, pricer).check)
    store = Store.open(config.db_path) if config.db_path.exists() else None
    answered = 0
    try:
        typical = store.average_completion(job.name) if store else None
        tally = _Tally(job.endpoint, pricer, typical, mode=config.mode)
        for item in job.items():
            if store and store.is_answered(job.name, item.id, item.request_hash):
                answered += 1
            else:
                tally.add(item.body)
    finally:
        if store:
            store.close()
    return Estimate(
        job.name,
        items,
        answered,
        tally.sent,
        tally.tokens,
        config.rpm,
        config.tpm,
        worst_prompt_tokens=tally.worst_prompt,
        worst_cost_usd=tally.worst_usd,
        expected_cost_usd=tally.expected_usd,
        unpriced_models=tuple(sorted(pricer.unknown)),
        uncapped=tally.uncapped,
        assumed=dict(tally.assumed),
        requests=-(-tally.sent // (job.settings.pack or DEFAULT_PACK))
        if packs(job.endpoint)
        else None,
        asks_models=against_openai(config),
    )


class _Tally:
    """Sums over the items to send: tokens, worst and expected cost, what needs a warning."""

    def __init__(
        self, endpoint: str, pricer: Pricer, typical_answer: float | None, *, mode: str
    ) -> None:
        self.endpoint, self.pricer, self.typical_answer = endpoint, pricer, typical_answer
        # Priced as the run would send them: at Batch prices, or each at Flex's.
        self.tier, self.batch = modes.service_tier(mode), mode == modes.BATCH
        self.sent = self.worst_prompt = self.uncapped = 0
        self.tokens = TokenCount()
        self.assumed: Counter[str] = Counter()
        self.worst_usd = self.expected_usd = 0.0

    def add(self, body: Mapping[str, Any]) -> None:
        cost = cost_of(body, self.endpoint)
        counted, cap, most = cost.parts, cost.allowance, cost.worst_prompt
        self.sent += 1
        self.tokens += counted
        self.worst_prompt += most
        self.assumed.update(counted.assumed)
        if not cost.capped:
            self.uncapped += 1
        prices = self.pricer.request_prices(body, tier=self.tier, batch=self.batch)
        if prices is None:
            return
        self.worst_usd += max(price.worst_case(most, cap) for price in prices)
        likely = cap / 2 if self.typical_answer is None else min(self.typical_answer, cap)
        asked = prices[0]
        self.expected_usd += (counted.prompt * asked.input + likely * asked.output) / 1_000_000
