"""One item's way through the error policy: the attempts it made and the outcome they add up to."""

from __future__ import annotations

from batchbot.api import policy
from batchbot.api.client import Reply, error_name, kept_headers
from batchbot.endpoints import CHAT
from batchbot.errors import redact_secrets
from batchbot.jobs.job import Item
from batchbot.outcome import OK, TRUNCATED, Attempt, Outcome, utc_now
from batchbot.pace.charcount import char_tokens
from batchbot.pace.limiter import Sent
from batchbot.pace.tokens import request_tokens


class Tries:
    """What one item's attempts saw so far; the dispatcher adds to it as it sends."""

    def __init__(self, item: Item, endpoint: str = CHAT) -> None:
        self.item = item
        self.tokens = request_tokens(item.body, endpoint)
        self.chars = char_tokens(item.body, endpoint)  # as OpenAI's rate limiter counts it
        self.created = utc_now()
        self.attempts: list[Attempt] = []
        self.counted = 0  # attempts the policy counts (an outage's tries do not count)
        self.sent: Sent | None = None  # the limiter's word on the last attempt's turn

    def answered(self, reply: Reply, started_at: str, latency_ms: float, wait_s: float) -> None:
        self.attempts.append(
            Attempt(
                len(self.attempts) + 1,
                started_at,
                latency_ms,
                wait_s * 1000,
                status_code=200,
                ratelimit=reply.headers,
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
            )
        )

    def reply(self, reply: Reply) -> Outcome:
        """The outcome of an answer: ok, or truncated when it was cut off at max_tokens."""
        return self.outcome(TRUNCATED if reply.finish_reason == "length" else OK, reply=reply)

    def error(self, status: str, exc: Exception) -> Outcome:
        """The outcome of the error the last attempt ended with."""
        code = getattr(exc, "code", None)
        error_code = str(code) if code else error_name(exc)
        return self.outcome(status, error=describe(exc), error_code=error_code)

    def outcome(
        self,
        status: str,
        *,
        reply: Reply | None = None,
        error: str | None = None,
        error_code: str | None = None,
    ) -> Outcome:
        return Outcome(
            item=self.item,
            status=status,
            created_at=self.created,
            finished_at=utc_now(),
            attempts=tuple(self.attempts),
            content=reply.content if reply else None,
            finish_reason=reply.finish_reason if reply else None,
            usage=reply.usage if reply else None,
            latency_ms=self.attempts[-1].latency_ms if self.attempts and reply else None,
            error=error,
            error_code=error_code,
            response_model=reply.model if reply else None,
            vectors=reply.vectors if reply else (),
            response_status=reply.status if reply else None,
        )


def describe(exc: BaseException) -> str:
    """The API's own words where it gave some; never anything from our request headers."""
    status = getattr(exc, "status_code", None)
    text = redact_secrets(getattr(exc, "message", None) or str(exc) or type(exc).__name__)
    if not status:
        return f"{error_name(exc)}: {text}"
    # openai puts "Error code: 400 - " before the API's message; the status says it already.
    return f"{status}: {text.removeprefix(f'Error code: {status} - ')}"
