"""The live status line: what binds the pace, what it costs, what is cut off, in 80 columns."""

from __future__ import annotations

import io
import time

import pytest
from hostile import HOSTILE, assert_inert

from batchbot.run.progress import PlainLines, RichBar
from batchbot.sync.stats import WIDTH, RunStats


def busy(**changes) -> RunStats:
    """A run one minute in: 412 of 1,000 done, TPM-bound, with a budget."""
    stats = RunStats(job="faq", total=1_000, started=time.monotonic() - 60)
    values = dict(
        ok=400, truncated=3, failed=9, retrying=2, requests=200, charged_tokens=150_000,
        prompt_tokens=60_000, completion_tokens=47_000, rpm_limit=500, tpm_limit=200_000,
        cost_usd=0.41, budget_left=1.59,
    ) | changes  # fmt: skip
    for name, value in values.items():
        setattr(stats, name, value)
    return stats


def test_everything_fits_in_80_columns():
    """A busy run shows counts, the binding limit, money and ETA on one 80-column line."""
    line = busy(retrying=0).line()
    assert line == "412/1,000 · ok 403 · 3 cut off · 9 failed · TPM-bound 107k/200k"
    assert len(line) <= WIDTH
    calm = busy(truncated=0, failed=0, retrying=0, ok=412).line()
    assert calm == (
        "412/1,000 · ok 412 · TPM-bound 107k/200k · $0.41 spent, $1.59 left · ETA 1m26s"
    )
    assert len(calm) <= WIDTH


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"charged_tokens": 20_000, "requests": 480}, "RPM-bound 480/500"),
        ({"charged_tokens": 190_000}, "TPM-bound 107k/200k"),  # allowances charged, tokens used
        ({"rpm_limit": None, "tpm_limit": None}, "200 req/min"),
        ({"budget_left": None, "cost_usd": 12.5}, "$12.50 spent"),
        ({"budget_left": -0.01}, "$0.00 left"),
    ],
)
def test_pace_and_money_read_right(changes, words):
    """The binding limit is the one used most; money shows spent, and what is left of a budget."""
    stats = busy(truncated=0, failed=0, retrying=0, **changes)
    assert words in stats.line(200)


def test_narrow_terminal_keeps_the_counts():
    """Narrower than everything: the ETA, then money, then pace give way; counts stay."""
    assert busy().line(60) == "412/1,000 · ok 403 · 3 cut off · 9 failed · 2 retrying"
    assert busy().line(30) == "412/1,000 · ok 403 · 3 cut off"


def test_plain_lines_print_the_state_once_when_cut_short():
    """Without a terminal, a run cut short prints where it got to once; a finished run not."""
    out = io.StringIO()
    display = PlainLines(out)
    display.stop(busy())
    assert out.getvalue().splitlines() == [f"faq: {busy().line(WIDTH - 5)}"]
    finished = io.StringIO()
    PlainLines(finished).stop(busy(ok=988, truncated=3))
    assert finished.getvalue() == ""


@pytest.fixture
def not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """rich takes a StringIO for a terminal when FORCE_COLOR or TTY_COMPATIBLE says so, and
    then writes its live redraws too: the tests read only what a run leaves behind."""
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)


def test_rich_display_leaves_one_line_of_80_columns(not_a_terminal):
    """The terminal display ends with its status line printed once, no wider than 80."""
    out = io.StringIO()
    display = RichBar(out)
    display.start(busy())
    display.refresh(busy())
    display.stop(busy())
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("faq 412/1,000 · ok 403")
    assert len(lines[0]) <= WIDTH


def started(seconds_ago: float, **values) -> RunStats:
    """A run `seconds_ago` in, with these counters."""
    stats = RunStats(job="faq", total=100_000, started=time.monotonic() - seconds_ago)
    for name, value in values.items():
        setattr(stats, name, value)
    return stats


TOKENS = {"prompt_tokens": 150_000, "completion_tokens": 30_000, "charged_tokens": 190_000}
TOKENS |= {"requests": 100, "rpm_limit": 30_000, "tpm_limit": 200_000}


@pytest.mark.parametrize(
    ("seconds", "values", "words"),
    [
        pytest.param(
            25, {"requests": 29_000, "rpm_limit": 30_000}, "RPM 70k/30k (full bucket)", id="rpm"
        ),
        pytest.param(25, TOKENS, "TPM 432k/200k (full bucket)", id="tpm"),
        pytest.param(
            600, {"requests": 320_000, "rpm_limit": 30_000}, "RPM 32k/30k (full bucket)", id="later"
        ),
        pytest.param(
            60, {"requests": 70_000, "rpm_limit": 30_000}, "RPM-bound 70k/30k", id="beyond-a-bucket"
        ),
    ],
)
def test_a_full_bucket_spent_at_the_start_is_not_shown_as_over_the_limit(seconds, values, words):
    """The buckets start full: a rate since the start above the limit by at most one bucket
    is marked as that bucket being spent; past even that, the rate is shown as it is."""
    stats = started(seconds, ok=values["requests"], **values)
    assert words in stats.line(200)
    assert ("full bucket" in words) == ("-bound" not in stats.line(200))


def test_a_full_bucket_line_fits_in_80_columns():
    """Spending a full bucket, the line still fits 80 columns with the money in it."""
    stats = started(25, ok=29_000, requests=29_000, rpm_limit=30_000, cost_usd=0.41)
    stats.budget_left = 1.59
    line = stats.line()
    money = "$0.41 spent, $1.59 left"
    assert line == f"29,000/100,000 · ok 29,000 · RPM 70k/30k (full bucket) · {money}"
    assert len(line) <= WIDTH


@pytest.mark.parametrize("display", [PlainLines, RichBar])
def test_the_progress_line_shows_a_hostile_job_name_inert(display, not_a_terminal):
    """Both displays print the job's name without its escapes (rich markup stays text too)."""
    out = io.StringIO()
    shown = display(out)
    stats = RunStats(job=f"faq{HOSTILE}[bold]x", total=2, started=time.monotonic())
    shown.start(stats)
    stats.ok = 1
    shown.stop(stats)
    assert_inert(out.getvalue().encode(), "the progress line")
    assert "faq" in out.getvalue()
    assert "[bold]x" in out.getvalue()
