"""Which dialect a server's rate-limit headers speak, and what is left for us in it.

OpenAI's x-ratelimit-* headers describe buckets that refill continuously, and `reset-*` says
how long until they are full. Gateways and OpenAI-compatible servers reuse the names for
other things, and read as OpenAI's they mislead:

- `openai`: remaining with a reset. A refilling bucket: `sharing`'s refill arithmetic tells
  what another client spends.
- `fixed-minute`: remaining with no reset, as LiteLLM's proxy sends. A counter of the
  wall-clock minute: it only goes down within the minute and jumps back to the limit when
  the minute turns. Read as a bucket, a count that does not rise with the refill looks like
  another client spending the key, and a run slows to a crawl. Here nothing refills, so the
  only evidence of another client is the count falling faster than our own sends, and the
  only risk is running the window dry before it turns: the pace stays the configured one,
  lowered only to spread what is left over the rest of the minute, and held when nothing is.
- `none`: no x-ratelimit-* headers at all (vLLM): the configured limits and 429s are all.

A server is taken at its word only once it has shown its dialect. Minutes turn with the
wall clock (LiteLLM keys its counters by the minute), so the end of the window is known
before the first turn is seen; a turn seen at another moment moves it. Pure arithmetic on
the times it is given: no clock, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass

from batchbot.pace import levels
from batchbot.pace.headers import RateLimitHeaders
from batchbot.pace.levels import Levels, Sent
from batchbot.pace.sharing import MIN_SHARE, SharedBudget

OPENAI = "openai"
FIXED_MINUTE = "fixed-minute"
NONE = "none"
NOTES = {
    FIXED_MINUTE: (
        "server counts per fixed minute (no reset header); pacing by the configured limits"
    ),
    NONE: "server sends no rate-limit headers; pacing by the configured limits and its 429s",
}
# The same notes in Azure OpenAI's terms: it too sends remaining counts and no reset, but
# counts requests over 10 seconds and states no limit, so the quota is the user's to give.
AZURE_NOTES = {
    NOTES[FIXED_MINUTE]: (
        "Azure OpenAI reports only remaining requests and tokens (no limit, no reset); pacing "
        "by the configured limits: give the deployment's quota with --rpm/--tpm"
    ),
    NOTES[NONE]: (
        "this Azure OpenAI deployment sends no rate-limit headers; pacing by the configured "
        "limits (give its quota with --rpm/--tpm) and its 429s"
    ),
}
NONE_AFTER = 3  # answers without any x-ratelimit-* header before the server is said to send none
MINUTE_S = 60.0
TURN_SLACK_S = 2.0  # a turn seen this close to the expected one confirms it
JUMP = 0.05  # a count rising by more than this share of the limit is the window turning
# Of what a window has left, keep this share of the limit unspent: answers in flight when a
# count was taken are not in it yet.
RESERVE = 0.005
CONSISTENT_S = 1.0  # a fixed window's evidence must hold this long before it slows anything
KINDS = ("requests", "tokens")


def worded_for(note: str, *, azure: bool) -> str:
    """`note` in the terms of the kind of server that sent the headers."""
    return AZURE_NOTES.get(note, note) if azure else note


class Minutes:
    """Where the server's minutes turn, on the event loop's clock."""

    def __init__(self, wall_offset: float) -> None:
        self._offset = wall_offset  # wall-clock time minus loop time

    def end(self, now: float) -> float:
        """When the minute holding `now` ends."""
        return (math.floor((now + self._offset) / MINUTE_S) + 1) * MINUTE_S - self._offset

    def turned(self, now: float) -> None:
        """The count jumped back by `now`: unless a minute was due to turn about then, one did."""
        since = now - (self.end(now) - MINUTE_S)
        if min(since, MINUTE_S - since) > TURN_SLACK_S:
            self._offset = -now % MINUTE_S


@dataclass(frozen=True, slots=True)
class _Count:
    time: float
    remaining: float
    ours: float  # everything we had sent by then
    end: float  # when its window turns


class WindowShare:
    """One fixed-window counter (requests or tokens): the share of the limit left for us.

    It acts only on evidence that holds for a counter that may not refill: within the
    window, the count has fallen further than our own sends explain, so another client is
    spending it. Until then a low count is ours alone (or a server that refills after all)
    and changes nothing.
    """

    def __init__(self) -> None:
        self._ours = 0.0
        self._last: _Count | None = None
        self._first: _Count | None = None  # the window's first count
        self._ours_before = 0.0  # what we had sent before the window began
        self._shared_until = -math.inf  # the end of the window another client spends
        self.fixed = False  #: the count was seen not to refill (for a second or more)

    def sent(self, amount: float) -> None:
        """Count `amount` (1 request, or its tokens) that we let through."""
        self._ours += amount

    def observe(
        self, now: float, remaining: int, limit: float | None, minutes: Minutes, *, stated: bool
    ) -> None:
        """Take one answer's remaining count out of `limit` (`stated` in its headers, or
        only the limit in force); a jump up within a window means it turned."""
        last = self._last
        jump = max(1.0, JUMP * (limit or 0))
        if last is not None and now < last.end and remaining > last.remaining + jump:
            minutes.turned(now)
        count = _Count(now, remaining, self._ours, minutes.end(now))
        if last is None or last.end != count.end:  # a new window: our sends in it count from here
            self._first, self._ours_before = count, last.ours if last is not None else 0.0
        self._shared_until = count.end if self._shared(count, limit, stated) else -math.inf
        self._judge(count, limit)
        self._last = count

    def _judge(self, count: _Count, limit: float | None) -> None:
        """Whether the count refills: not if, over a second or more of a window, it has fallen
        with our sends and never risen; once it rises more than they explain, it does."""
        first = self._first or count
        since_first = first.remaining - count.remaining - (count.ours - first.ours)
        noise = max(2.0, RESERVE * (limit or 0))
        if since_first < -noise:
            self.fixed = False
        elif count.time - first.time >= CONSISTENT_S:
            self.fixed = True

    def _shared(self, count: _Count, limit: float | None, stated: bool) -> bool:
        """Whether, over a second or more of this window, the count has fallen at least as
        fast as our sends, and by more than they explain since the window began."""
        first = self._first or count
        noise = max(2.0, RESERVE * (limit or 0))
        since_first = first.remaining - count.remaining - (count.ours - first.ours)
        if count.time - first.time < CONSISTENT_S or since_first < -noise:
            return False  # too soon to tell, or it refills after all
        if stated and limit:
            return limit - count.remaining - (count.ours - self._ours_before) > noise
        return since_first > noise

    def left(self, now: float, limit: float | None) -> float | None:
        """What the window has left for us now, bar a reserve; None if it has turned since."""
        last = self._last
        if last is None or now >= last.end:
            return None
        return last.remaining - (self._ours - last.ours) - RESERVE * (limit or 0)

    @property
    def shared(self) -> bool:
        """Whether another client is seen spending the current window."""
        return self._last is not None and self._shared_until == self._last.end

    def share(self, now: float, limit: float | None, aim: float | None) -> float:
        """The share of `aim` (per minute) that spends what is left by the end of the window.

        1 unless another client spends the window and what is left does not cover that
        pace; 0 when the window is used up.
        """
        left = self.left(now, limit)
        if left is None or not aim or self._last is None or not self.shared:
            return 1.0
        if left < 1:
            return 0.0
        per_second = left / (self._last.end - now)
        return max(MIN_SHARE, min(1.0, per_second / (aim / 60)))

    def until_turn(self, now: float, limit: float | None) -> float:
        """Seconds to hold because the count has nothing left for us: until the window turns
        if it is seen to be a fixed one, else a second, to look again."""
        left = self.left(now, limit)
        if left is None or left >= 1 or self._last is None:
            return 0.0
        fixed = self.shared or self.fixed
        return self._last.end - now if fixed else min(CONSISTENT_S, self._last.end - now)


class HeaderReader:
    """The dialect a server speaks and, read in it, the share of the limits left for us.

    `wall_offset`: wall-clock time minus the times given to it, to place the minutes.
    """

    def __init__(self, wall_offset: float) -> None:
        self.dialect: str | None = None  #: OPENAI, FIXED_MINUTE, NONE, or None while unknown
        self._bare = 0  # answers without any x-ratelimit-* header
        self._spoke = False  # whether any answer had one
        self._minutes = Minutes(wall_offset)
        self._limits: dict[str, float | None] = dict.fromkeys(KINDS)  # the last counts' limits
        self._buckets = {kind: SharedBudget() for kind in KINDS}
        self._windows = {kind: WindowShare() for kind in KINDS}
        self._said: set[str] = set()
        self._readings = 0  # answers read in OpenAI's dialect

    def sent(self, requests: float, tokens: float) -> None:
        """Count what we let through (negative: a refused request cost nothing)."""
        for kind, amount in zip(KINDS, (requests, tokens), strict=True):
            self._buckets[kind].sent(amount)
            self._windows[kind].sent(amount)

    def observe(
        self, now: float, headers: RateLimitHeaders, limits: dict[str, float | None]
    ) -> str | None:
        """Read one answer's headers; the first time a dialect worth saying is seen, its note."""
        dialect = self._infer(headers)
        if dialect is None:
            return None
        self._readings += dialect == OPENAI
        if dialect != self.dialect:  # what was learned in another dialect means nothing here
            self._buckets = {kind: SharedBudget() for kind in KINDS}
            self._windows = {kind: WindowShare() for kind in KINDS}
            self.dialect = dialect
        counts = {
            "requests": (headers.limit_requests, headers.remaining_requests),
            "tokens": (headers.limit_tokens, headers.remaining_tokens),
        }
        resets = {"requests": headers.reset_requests, "tokens": headers.reset_tokens}
        for kind, (limit, remaining) in counts.items():
            if dialect == OPENAI:
                self._buckets[kind].observe(now, limit, remaining, resets[kind])
            elif dialect == FIXED_MINUTE and remaining is not None:
                self._limits[kind] = limit or limits[kind]
                window = self._windows[kind]
                window.observe(
                    now, remaining, self._limits[kind], self._minutes, stated=bool(limit)
                )
        if dialect in NOTES and dialect not in self._said:
            self._said.add(dialect)
            return NOTES[dialect]
        return None

    @property
    def lies(self) -> bool:
        """Whether a refilling bucket's count rose faster than a minute's bucket can."""
        return any(budget.lies for budget in self._buckets.values())

    def bucket_shares(self) -> list[float]:
        """What another client leaves us of each refilling bucket (none but in OpenAI's)."""
        if self.dialect != OPENAI:
            return []
        return [budget.share for budget in self._buckets.values()]

    def window_share(self, now: float, aims: dict[str, float | None]) -> float:
        """The share of the pace we aim for (`aims`, per minute) that spends what is left of
        the fixed windows by their turn, in (0, 1]: 1 but in the fixed-minute dialect. See
        `until_turn` for a window with nothing left."""
        if self.dialect != FIXED_MINUTE:
            return 1.0
        windows = self._windows.items()
        return max(
            MIN_SHARE, min(window.share(now, self._limits[k], aims[k]) for k, window in windows)
        )

    @property
    def refills(self) -> bool:
        """Whether the counts are OpenAI's, of buckets that refill."""
        return self.dialect == OPENAI

    def levels(
        self,
        now: float,
        headers: RateLimitHeaders,
        paced: Collection[str],
        charged: Mapping[str, float],
        sent: Sent | None,
        held: Callable[[str], bool],
    ) -> Levels | None:
        """What the server's counters hold now for the paced kinds, the headroom's evidence
        (see `levels`): None when these headers cannot say. `charged`: all we sent; `sent`:
        where that stood as the request they answer went; `held(kind)`: a limit lower than
        the server's holds `kind` back, so no burst spends it."""
        if self.refills:
            # It takes a second reading to see that counts rise no faster than a minute's
            # bucket refills (`lies`), unless the first shows the buckets full.
            if not (self._readings > 1 or levels.full(headers, paced)):
                return None
            capped = [kind for kind in paced if held(kind)]
            return levels.bucket_levels(now, headers, paced, charged, sent, capped=capped)
        if self.dialect == FIXED_MINUTE:
            return self.window_levels(now, paced, held)
        return None

    def window_levels(
        self, now: float, paced: Iterable[str], held: Callable[[str], bool]
    ) -> dict[str, tuple[float, float] | None]:
        """For each paced kind, (limit, what its fixed window has left for us now); None when
        that is unknown, the count is not yet seen not to refill, or `held(kind)` (a limit
        lower than the server's holds it back)."""
        levels: dict[str, tuple[float, float] | None] = {}
        for kind in paced:
            limit = self._limits[kind]
            window = self._windows[kind]
            left = window.left(now, limit)
            known = window.fixed and limit and left is not None and not held(kind)
            levels[kind] = (limit, left) if known and limit and left is not None else None
        return levels

    def until_turn(self, now: float) -> float:
        """Seconds to hold everything because a fixed window is used up (0: go on)."""
        if self.dialect != FIXED_MINUTE:
            return 0.0
        windows = self._windows.items()
        return max(window.until_turn(now, self._limits[k]) for k, window in windows)

    def _infer(self, headers: RateLimitHeaders) -> str | None:
        if headers.reset_requests is not None or headers.reset_tokens is not None:
            self._spoke = True
            return OPENAI
        if headers.remaining_requests is not None or headers.remaining_tokens is not None:
            self._spoke = True
            return FIXED_MINUTE
        if headers.limit_requests is not None or headers.limit_tokens is not None:
            self._spoke = True
        elif not self._spoke:
            self._bare += 1
        if self.dialect is None and not self._spoke and self._bare >= NONE_AFTER:
            return NONE
        return self.dialect
