"""--dry-run: what a run would send, cost and take by its limits, with no network.

The worst case is what a budget reserves: every prompt at the input price and every
completion allowance used in full at the output price. The expected cost assumes answers as
long, on average, as this job's earlier answers in the database, or half the allowance when
there are none yet.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from batchbot.config import Config
from batchbot.endpoints import EMBEDDINGS
from batchbot.jobs.job import Job
from batchbot.jobs.params import suggestion, unknown_parameters
from batchbot.jobs.prices import load_price_file
from batchbot.money.pricing import Pricer
from batchbot.pace.tokens import DEFAULT_COMPLETION_ALLOWANCE, answer_allowance, input_tokens
from batchbot.store.store import Store


@dataclass(frozen=True, slots=True)
class Estimate:
    job: str
    items: int
    already_answered: int
    to_send: int
    prompt_tokens: int
    completion_allowance: int
    rpm: float | None
    tpm: float | None
    worst_cost_usd: float = 0.0
    expected_cost_usd: float = 0.0
    unpriced_models: tuple[str, ...] = ()
    unknown_parameters: Mapping[str, int] = field(default_factory=dict)  # name -> items
    uncapped: int = 0  # items with no max_tokens: their allowance is assumed

    def warnings(self) -> list[str]:
        """What the dry run found that a real run would regret: typos, guessed allowances."""
        lines = []
        for name, count in self.unknown_parameters.items():
            close = suggestion(name)
            hint = f" (did you mean {close!r}?)" if close else ""
            lines.append(
                f"{name!r} is not a Chat Completions parameter{hint}: the API will refuse the "
                f"{count:,} {_items(count)} that set it"
            )
        if self.uncapped:
            lines.append(
                f"{self.uncapped:,} {_items(self.uncapped)} set no max_tokens: each is assumed "
                f"to use up to {DEFAULT_COMPLETION_ALLOWANCE:,} completion tokens"
            )
        return lines

    @property
    def minutes(self) -> float:
        """The time the rate limits imply for what is left to send."""
        by_requests = self.to_send / self.rpm if self.rpm else 0.0
        tokens = self.prompt_tokens + self.completion_allowance
        by_tokens = tokens / self.tpm if self.tpm else 0.0
        return max(by_requests, by_tokens)


def pricer_for(job: Job, config: Config) -> Pricer:
    """The job's prices over the prices file's over genai-prices'; reads the file now."""
    file_prices = load_price_file(config.prices_file) if config.prices_file else None
    return Pricer(
        job_prices=job.settings.prices, file_prices=file_prices, price_as=job.settings.price_as
    )


def estimate_job(job: Job, config: Config) -> Estimate:
    """Count items, skip answered ones (if the database exists) and sum their tokens."""
    items = job.validate()
    pricer = pricer_for(job, config)
    store = Store.open(config.db_path) if config.db_path.exists() else None
    answered = sent = prompt = allowance = uncapped = 0
    worst = expected = 0.0
    unknown: Counter[str] = Counter()
    try:
        typical = store.average_completion(job.name) if store else None
        for item in job.items():
            if store and store.is_answered(job.name, item.id, item.request_hash):
                answered += 1
                continue
            model = str(item.body.get("model", ""))
            tokens = input_tokens(item.body, job.endpoint)
            cap = answer_allowance(item.body, job.endpoint)
            sent, prompt, allowance = sent + 1, prompt + tokens, allowance + cap
            unknown.update(unknown_parameters(item.body, job.endpoint))
            if job.endpoint != EMBEDDINGS and not any(item.body.get(k) for k in CAPS):
                uncapped += 1
            price = pricer.price(model)
            if price is not None:
                worst += price.worst_case(tokens, cap)
                likely = cap / 2 if typical is None else min(typical, cap)
                expected += (tokens * price.input + likely * price.output) / 1_000_000
    finally:
        if store:
            store.close()
    return Estimate(
        job.name,
        items,
        answered,
        sent,
        prompt,
        allowance,
        config.rpm,
        config.tpm,
        worst_cost_usd=worst,
        expected_cost_usd=expected,
        unpriced_models=tuple(sorted(pricer.unknown)),
        unknown_parameters=dict(unknown),
        uncapped=uncapped,
    )


# What bounds an answer's length, by endpoint; without one the allowance is a guess.
CAPS = ("max_tokens", "max_completion_tokens", "max_output_tokens")


def _items(count: int) -> str:
    return "item" if count == 1 else "items"
