"""One item's way through the error policy: the attempts it made and the outcome they add up to."""

from __future__ import annotations

from typing import Any

from batchbot.answers.reask import Reask, allowance
from batchbot.api import policy
from batchbot.api.client import Reply, kept_headers
from batchbot.api.exceptions import error_name
from batchbot.api.replies import answered
from batchbot.endpoints import CHAT
from batchbot.errors import redact_secrets
from batchbot.jobs.job import Item
from batchbot.outcome import Attempt, Outcome, utc_now
from batchbot.pace.limiter import Sent
from batchbot.sync.prefixes import Prefix
from batchbot.tokens.characters import char_tokens
from batchbot.tokens.cost import Cost


class Tries:
    """What one ask of an item saw so far (the first, or a re-ask); the dispatcher adds to it
    as it sends."""

    def __init__(
        self,
        item: Item,
        cost: Cost,
        endpoint: str = CHAT,
        ask: Reask | None = None,
        *,
        body: dict[str, Any] | None = None,
        prefix: Prefix | None = None,
    ) -> None:
        """`cost`: the ask's tokens, counted when the run took it (tokens.cost); `body`: what is
        sent, when the run adds to the item's request (a service tier, a prompt cache key, which
        cost no tokens); `prefix`: the long prefix it shares with others (sync.prefixes)."""
        self.item = item
        self.ask = ask
        self.body: dict[str, Any] = body if body is not None else ask.body if ask else item.body
        self.max_tokens = ask.max_tokens if ask else allowance(item.body, endpoint)
        self.cost = cost
        self.chars = char_tokens(self.body, endpoint)  # as OpenAI's rate limiter counts it
        self.created = utc_now()
        self.attempts: list[Attempt] = []
        self.counted = 0  # attempts the policy counts (an outage's tries do not count)
        self.sent: Sent | None = None  # the limiter's word on the last attempt's turn
        # Under a budget: the item's worst case, and its reservation row once committed.
        self.worst_usd: float | None = None
        self.held: int | None = None
        # A request is out and not answered yet: cut off now, it may still be billed.
        self.on_wire = False
        self.prefix = prefix
        self.warm = False  # it has waited, if it must, for its prefix to be cached
        self.primer = False  # it is the first of its prefix: the others wait for it

    def answered(self, reply: Reply, started_at: str, latency_ms: float, wait_s: float) -> None:
        self.attempts.append(
            Attempt(
                len(self.attempts) + 1,
                started_at,
                latency_ms,
                wait_s * 1000,
                status_code=200,
                ratelimit=reply.headers,
                reask=self.ask.reason if self.ask else None,
            )
        )

    def failed(self, exc: Exception, started_at: str, latency_ms: float, wait_s: float) -> None:
        code = getattr(exc, "code", None)
        self.attempts.append(
            Attempt(
                number=len(self.attempts) + 1,
                started_at=started_at,
                latency_ms=latency_ms,
                wait_before_ms=wait_s * 1000,
                status_code=getattr(exc, "status_code", None),
                error_code=str(code) if code else error_name(exc),
                error=describe(exc),
                ratelimit=kept_headers(policy.response_headers(exc)),
                reask=self.ask.reason if self.ask else None,
            )
        )

    def reply(self, reply: Reply) -> Outcome:
        """The outcome of an answer: ok, or truncated when it was cut off at max_tokens
        (answers.check says whether it is refused or invalid)."""
        return answered(
            self.item,
            reply,
            created_at=self.created,
            attempts=tuple(self.attempts),
            latency_ms=self.attempts[-1].latency_ms if self.attempts else None,
            max_tokens=self.max_tokens,
            reask=self.ask.reason if self.ask else None,
            before=self.ask.previous.totals if self.ask else None,
            asked_tier=self.body.get("service_tier"),
        )

    def error(self, status: str, exc: Exception) -> Outcome:
        """The outcome of the error the last attempt ended with."""
        code = getattr(exc, "code", None)
        error_code = str(code) if code else error_name(exc)
        return self.outcome(status, error=describe(exc), error_code=error_code)

    def outcome(
        self, status: str, *, error: str | None = None, error_code: str | None = None
    ) -> Outcome:
        """An outcome with no answer. A re-ask's keeps the item's answer (and its status):
        only its attempts are written."""
        if self.ask is not None:
            status = self.ask.previous.status
        return Outcome(
            item=self.item,
            status=status,
            created_at=self.created,
            finished_at=utc_now(),
            attempts=tuple(self.attempts),
            error=error,
            error_code=error_code,
            reask=self.ask.reason if self.ask else None,
        )


def describe(exc: BaseException) -> str:
    """The API's own words where it gave some; never anything from our request headers."""
    status = getattr(exc, "status_code", None)
    text = redact_secrets(getattr(exc, "message", None) or str(exc) or type(exc).__name__)
    if not status:
        return f"{error_name(exc)}: {text}"
    # openai puts "Error code: 400 - " before the API's message; the status says it already.
    return f"{status}: {text.removeprefix(f'Error code: {status} - ')}"


def model_of(item: Item) -> str | None:
    """The model an item asks for: the limiter learns how the server counts, per model."""
    model = item.body.get("model")
    return model if isinstance(model, str) else None
