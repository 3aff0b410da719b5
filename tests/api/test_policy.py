"""The error policy's waits with backoff on, taken on an injected sleep instead of the clock."""

from __future__ import annotations

import sqlite3

import pytest

from batchbot.api import policy
from batchbot.config import Config
from batchbot.jobs.job import load_job
from batchbot.run.runner import run_job_async

# The policy's own waits, made before the suite's fixture sets the default to none.
POLICY_WAIT = policy.default_wait()

JOB = (
    "model: gpt-4o-mini\nprompts:\n"
    "  - {id: good, user: First question}\n"
    "  - {id: bad, user: 'Break me [[fake:%s]]'}\n"
)


@pytest.mark.parametrize(
    ("marker", "ceilings_s"),
    [
        ("500x2", [0.5, 1.0]),  # jittered exponential backoff: up to 0.5 s, then up to 1 s
        ("429x2", [0.055, 0.055]),  # the server's hint (50 ms) plus at most 10 % jitter
    ],
)
async def test_waits_are_the_policys_and_go_to_the_sleep(
    tmp_path, write_job, fake_api, marker, ceilings_s
):
    """Each retry waits what the policy says (backoff, or the 429's hint) on the injected
    sleep, and the attempts table records the same waits."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    job = load_job(write_job("faults.yaml", JOB % marker))
    config = Config(
        db_path=tmp_path / "batchbot.db",
        api_key="sk-test",
        base_url=fake_api.url,
        rpm=60_000,
        tpm=100_000_000,
        concurrency=1,
        retry_wait=POLICY_WAIT,
    )
    summary = await run_job_async(job, config, sleep=sleep, handle_signals=False)
    assert (summary.ok, summary.failed) == (2, 0)
    with sqlite3.connect(config.db_path) as conn:
        waits_ms = [
            wait
            for (wait,) in conn.execute(
                "SELECT a.wait_before_ms FROM attempts a JOIN requests r ON r.id = a.request_id "
                "WHERE r.item_id = 'bad' ORDER BY a.number"
            )
        ]
    assert len(waits_ms) == 3
    assert waits_ms[0] == 0
    floor = 0.05 if marker == "429x2" else 0.0
    for wait_ms, ceiling in zip(waits_ms[1:], ceilings_s, strict=True):
        assert floor <= wait_ms / 1000 <= ceiling
        assert wait_ms / 1000 == pytest.approx(min(slept, key=lambda s: abs(s - wait_ms / 1000)))
