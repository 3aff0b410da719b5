"""--dry-run: what a run would send and how long its limits say it takes, with no network."""

from __future__ import annotations

from dataclasses import dataclass

from batchbot.config import Config
from batchbot.jobs import Job
from batchbot.store import Store
from batchbot.tokens import completion_allowance, prompt_tokens


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

    @property
    def minutes(self) -> float:
        """The time the rate limits imply for what is left to send."""
        by_requests = self.to_send / self.rpm if self.rpm else 0.0
        tokens = self.prompt_tokens + self.completion_allowance
        by_tokens = tokens / self.tpm if self.tpm else 0.0
        return max(by_requests, by_tokens)


def estimate_job(job: Job, config: Config) -> Estimate:
    """Count items, skip answered ones (if the database exists) and sum their tokens."""
    items = job.validate()
    store = Store.open(config.db_path) if config.db_path.exists() else None
    answered = sent = prompt = allowance = 0
    try:
        for item in job.items():
            if store and store.is_answered(job.name, item.id, item.request_hash):
                answered += 1
                continue
            sent += 1
            prompt += prompt_tokens(str(item.body.get("model", "")), item.body["messages"])
            allowance += completion_allowance(item.body)
    finally:
        if store:
            store.close()
    return Estimate(job.name, items, answered, sent, prompt, allowance, config.rpm, config.tpm)
