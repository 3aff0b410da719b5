"""What a run asks of an item: the first time, or again (answers.reask), sync or batch.

An answer is checked as it arrives (answers.check); when the job's policy says so, it is asked
again (a synchronous run at once, the item keeping its concurrency slot; Batch mode in the next
batch). An item whose stored answer the policy would ask again about (a run stopped before its
re-ask, Batch mode's next invocation, or `on_invalid` added since) is asked again instead of
being skipped as answered.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final, Protocol

from batchbot.answers.check import Checker
from batchbot.answers.reask import INVALID_REASK, LENGTH, Reask, ReaskPolicy, plan
from batchbot.jobs.caching import cache_key
from batchbot.jobs.job import Item, Job
from batchbot.outcome import INVALID, SETTLED, TRUNCATED, LastAnswer, Outcome

SKIP: Final = "skip"  # the item has its answer: nothing to send


class Answers(Protocol):
    """Where the answers are: the store, as far as asking needs it."""

    def answer_status(self, job: str, item_id: str, request_hash: str) -> str | None: ...
    def last_answer(self, job: str, item_id: str, request_hash: str) -> LastAnswer | None: ...


class Asking:
    """One job's checker and re-ask policy, and where its answers are stored."""

    def __init__(self, job: Job, store: Answers, policy: ReaskPolicy) -> None:
        self.job, self.store, self.policy = job, store, policy
        self.checker = Checker(job.endpoint, job.settings.schema)

    def check(self, outcome: Outcome) -> Outcome:
        """The answer checked, and marked with what it answers when that is the item's own
        request (its cache key): a re-ask's answer answers another request."""
        checked = self.checker.check(outcome)
        if checked.reask is not None or checked.usage is None or checked.cache_key is not None:
            return checked
        return replace(checked, cache_key=cache_key(checked.item, self.job.endpoint))

    def stored(self, item: Item) -> Reask | str | None:
        """What to do with an item a run may have answered before: SKIP it, re-ask it, or
        (None) send it as if new."""
        status = self.store.answer_status(self.job.name, item.id, item.request_hash)
        if status not in SETTLED:
            return None
        return self.again(item, status) or SKIP

    def again(self, item: Item, status: str) -> Reask | None:
        """The re-ask the policy calls for about an item's stored answer, if any."""
        if not self.policy.enabled or status not in (INVALID, TRUNCATED):
            return None
        last = self.store.last_answer(self.job.name, item.id, item.request_hash)
        return None if last is None else plan(item, last, self.policy, self.job.endpoint)

    def waited_for(self, item: Item) -> Reask | None:
        """The re-ask a batch result answers: the item's stored answer and why it was asked
        again (None: the item has an answer no re-ask was about)."""
        last = self.store.last_answer(self.job.name, item.id, item.request_hash)
        if last is None or last.status not in (INVALID, TRUNCATED):
            return None
        reason = LENGTH if last.status == TRUNCATED else INVALID_REASK
        ask = plan(item, last, self.policy, self.job.endpoint)
        return ask or Reask(reason, item.body, last.max_tokens, last)

    def next(self, ask: Reask | None, outcomes: list[Outcome]) -> Reask | None:
        """The re-ask the policy calls for after an ask's answer (`ask`: the ask it answered,
        None for the first), if any."""
        if not self.policy.enabled or len(outcomes) != 1 or outcomes[0].keeps_answer:
            return None
        outcome = outcomes[0]
        if outcome.usage is None:
            return None  # no answer: nothing to ask again about
        invalid_reasks = 0 if ask is None else ask.previous.invalid_reasks
        invalid_reasks += ask is not None and ask.reason == INVALID_REASK
        last = LastAnswer.of(outcome, invalid_reasks)
        return plan(outcome.item, last, self.policy, self.job.endpoint)
