"""The fake server's ledger alone: what it counts, bills and puts on the timeline."""

from __future__ import annotations

import threading

import pytest
from test_fake_server import Clock

from batchbot.fake.ledger import FakeStats, Ledger


def chat_payload(prompt: int, completion: int, cached: int = 0) -> dict[str, object]:
    """A chat completion's usage, as the fake's chat answers carry it."""
    usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    return {"usage": {**usage, "prompt_tokens_details": {"cached_tokens": cached}}}


def test_the_timeline_puts_each_admission_in_its_second_and_fills_quiet_ones():
    """Two admissions in the first second, none in the next, one in the third: three rows."""
    clock = Clock()
    ledger = Ledger(clock)
    ledger.admitted(10)
    clock.now += 0.9
    ledger.admitted(5)
    clock.now += 1.2
    ledger.admitted(7)
    assert ledger.timeline() == [[2, 15], [0, 0], [1, 7]]
    assert ledger.stats().tokens_charged == 22


def test_a_second_answer_to_the_same_body_is_a_duplicate():
    """Answering a digest twice counts two answers and one duplicate; another digest none."""
    ledger = Ledger(Clock())
    for digest in (b"a", b"b", b"a"):
        ledger.answered(digest)
    stats = ledger.stats()
    assert (stats.answered, stats.duplicates) == (3, 1)


def test_bills_sum_usage_by_model_in_either_api_shape():
    """Chat's and Responses' usage both land in one model's bill, cached tokens apart."""
    ledger = Ledger(Clock())
    ledger.bill("gpt-4o-mini", chat_payload(1000, 50, cached=0), "default")
    details = {"cached_tokens": 1024}
    responses = {
        "usage": {"input_tokens": 2000, "output_tokens": 10, "input_tokens_details": details}
    }
    ledger.bill("gpt-4o-mini", responses, "default")
    ledger.bill("not-a-priced-model", chat_payload(7, 3), None)
    billed = ledger.stats().billed
    assert billed["gpt-4o-mini"] == {
        "requests": 2,
        "input_tokens": 3000,
        "cached_tokens": 1024,
        "output_tokens": 60,
    }
    assert billed["not-a-priced-model"]["input_tokens"] == 7
    # gpt-4o-mini: $0.15 per million input, $0.075 cached, $0.60 output
    expected = (1976 * 0.15 + 1024 * 0.075 + 60 * 0.60) / 1e6
    assert ledger.stats().billed_usd == pytest.approx(expected)


def test_clear_forgets_everything_and_restarts_the_timeline_from_now():
    """After clear the stats are zero and the next admission is in second 0 again."""
    clock = Clock()
    ledger = Ledger(clock)
    ledger.received()
    ledger.sent(429)
    ledger.answered(b"a")
    ledger.bill("gpt-4o-mini", chat_payload(10, 1), "default")
    clock.now += 5
    ledger.clear()
    assert ledger.stats() == FakeStats(0, 0, {}, 0, 0, {}, 0.0)
    ledger.answered(b"a")
    assert ledger.stats().duplicates == 0
    ledger.admitted(3)
    assert ledger.timeline() == [[1, 3]]


def test_counts_from_many_threads_add_up():
    """Eight threads sending 1,000 statuses each leave exactly 8,000 counted."""
    ledger = Ledger(Clock())

    def send() -> None:
        for _ in range(1000):
            ledger.received()
            ledger.sent(200)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = ledger.stats()
    assert (stats.requests, stats.by_status) == (8000, {200: 8000})
