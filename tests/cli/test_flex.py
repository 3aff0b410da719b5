"""Service tiers end to end: --mode flex, Flex's resource-unavailable 429, priority prices,
tiers nobody prices, and --mode auto weighing sync, Flex and Batch."""

from __future__ import annotations

import json

import pytest
from stored import rows

from batchbot.pace.limiter import Limiter

QUESTIONS = "".join(f"  - Question {n} - why do people like tea?\n" for n in range(30))
JOB = "model: gpt-5-mini\n{extra}params: {{max_completion_tokens: 400}}\nprompts:\n" + QUESTIONS


def test_a_flex_run_costs_half_of_a_sync_run_through_resource_unavailable_429s(
    tmp_path, write_job, invoke, fake_api, monkeypatch
):
    """--mode flex: every request asks for Flex, the fake serves it there and refuses some for
    capacity; all are answered, at exactly half what the same job costs in sync mode, and the
    refusals neither pause nor slow the limiter."""
    refused = spy_on_refusals(monkeypatch)
    sync = write_job("sync.yaml", JOB.format(extra=""))
    assert invoke("run", str(sync), "--base-url", fake_api.url).exit_code == 0
    sync_bill = fake_api.stats.billed_usd
    fake_api.reset()
    fake_api.inject("resource_unavailable", times=7)
    flex = write_job("flex.yaml", JOB.format(extra=""))
    result = invoke("run", str(flex), "--base-url", fake_api.url, "--mode", "flex")
    assert result.exit_code == 0, result.output
    assert "flex: 30 answered, 0 failed" in result.output
    assert refused == []  # no rate-limit pause, no slower pace: it was Flex's capacity
    db = tmp_path / "batchbot.db"
    by_job = {
        row["job"]: row
        for row in rows(
            db,
            "select job, count(*) as n, sum(cost_usd) as cost, group_concat(distinct "
            "service_tier) as tiers, group_concat(distinct status) as statuses from requests "
            "group by job",
        )
    }
    assert by_job["sync"]["tiers"] == "default"
    assert by_job["flex"]["tiers"] == "flex"
    assert by_job["flex"]["statuses"] == "ok"
    assert by_job["flex"]["cost"] == pytest.approx(by_job["sync"]["cost"] / 2, rel=1e-12)
    assert by_job["flex"]["cost"] == pytest.approx(fake_api.stats.billed_usd, abs=5e-7)
    assert fake_api.stats.billed_usd == pytest.approx(sync_bill / 2)
    refused = rows(
        db, "select count(*) as n from attempts where error_code = 'resource_unavailable'"
    )
    assert refused == [{"n": 7}]
    (run,) = rows(db, "select mode from runs where job = 'flex'")
    assert run["mode"] == "flex"
    price = json.loads(str(rows(db, "select price from requests where job = 'flex'")[0]["price"]))
    assert (price["service_tier"], price["input"], price["output"]) == ("flex", 0.125, 1.0)


def spy_on_refusals(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record each rate-limit 429 the limiter is told of (it then pauses and may slow down)."""
    told: list[int] = []
    original = Limiter.refused

    def refused(self: Limiter, tokens: int, **kwargs: object) -> None:
        told.append(tokens)
        original(self, tokens, **kwargs)

    monkeypatch.setattr(Limiter, "refused", refused)
    return told


def test_a_rate_limit_429_still_reaches_the_limiter(write_job, invoke, fake_api, monkeypatch):
    """The contrast: a rate-limit 429 on a Flex run is the limiter's business, as on any run."""
    refused = spy_on_refusals(monkeypatch)
    fake_api.inject("429", times=1)
    job = write_job("flex.yaml", JOB.format(extra="mode: flex\n"))
    assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0
    assert len(refused) == 1


@pytest.mark.parametrize(
    ("job", "message"),
    [
        (
            "endpoint: /v1/embeddings\nmodel: text-embedding-3-small\nprompts: [a, b]\n",
            "Flex processing serves chat and Responses requests, not embeddings",
        ),
        (
            "model: gpt-4o-mini\nparams: {max_tokens: 20}\nprompts: [a, b]\n",
            "no Flex price is known for model 'gpt-4o-mini': OpenAI offers Flex processing for "
            "some models only",
        ),
    ],
    ids=["embeddings", "a model not on Flex"],
)
def test_flex_a_job_cannot_use_is_refused_before_sending(write_job, invoke, fake_api, job, message):
    """--mode flex for embeddings, or a model Flex does not serve: exit 2, nothing sent."""
    result = invoke(
        "run", str(write_job("job.yaml", job)), "--base-url", fake_api.url, "--mode", "flex"
    )
    assert result.exit_code == 2
    assert message in result.output
    assert fake_api.stats.requests == 0


def test_priority_is_priced_at_its_rate_and_an_unpriced_tier_stores_no_cost(
    tmp_path, write_job, invoke, fake_api
):
    """service_tier: priority is billed at priority prices; a tier nobody prices (scale) is
    stored with no cost and one warning, never at the default tier's price."""
    job = write_job(
        "tiers.yaml",
        "model: gpt-4o-mini\nparams: {max_tokens: 50}\nprompts:\n"
        "  - {id: fast, user: Hi, params: {service_tier: priority}}\n"
        "  - {id: plain, user: Hi}\n",
    )
    result = invoke("run", str(job), "--base-url", fake_api.url)
    assert result.exit_code == 0, result.output
    stored = {r["item_id"]: r for r in rows(tmp_path / "batchbot.db", "select * from requests")}
    fast, plain = stored["fast"], stored["plain"]
    assert fast["service_tier"] == "priority"
    assert fast["cost_usd"] == pytest.approx(
        (fast["prompt_tokens"] * 0.25 + fast["completion_tokens"] * 1.0) / 1e6
    )
    assert plain["cost_usd"] == pytest.approx(
        (plain["prompt_tokens"] * 0.15 + plain["completion_tokens"] * 0.6) / 1e6
    )
    assert fake_api.stats.billed_usd == pytest.approx(fast["cost_usd"] + plain["cost_usd"])

    prices = write_job("prices.yaml", "gpt-4o-mini: {input: 0.15, output: 0.6}\n")
    again = write_job(
        "scale.yaml",
        "model: gpt-4o-mini\nparams: {max_tokens: 50, service_tier: priority}\nprompts: [a, b]\n",
    )
    result = invoke("run", str(again), "--base-url", fake_api.url, "--prices", str(prices))
    assert result.exit_code == 0, result.output
    assert result.output.count("no priority price known for model 'gpt-4o-mini'") == 1
    unpriced = rows(tmp_path / "batchbot.db", "select cost_usd from requests where job = 'scale'")
    assert unpriced == [{"cost_usd": None}] * 2


def test_auto_sends_a_model_offered_on_flex_there(tmp_path, write_job, invoke):
    """--mode auto with --fake: a gpt-5-mini job runs on Flex at half price, a gpt-4o-mini job
    (not offered on Flex) synchronously; --dry-run says so first."""
    job = write_job("tea.yaml", JOB.format(extra=""))
    dry = invoke("run", str(job), "--fake", "--mode", "auto", "--dry-run", key=None)
    assert "mode: flex (auto: 30 items to send" in dry.output
    assert invoke("run", str(job), "--fake", "--mode", "auto", key=None).exit_code == 0
    small = write_job("small.yaml", "model: gpt-4o-mini\nparams: {max_tokens: 20}\nprompts: [a]\n")
    dry = invoke("run", str(small), "--fake", "--mode", "auto", "--dry-run", key=None)
    assert "the model is not offered on Flex here" in dry.output
    assert invoke("run", str(small), "--fake", "--mode", "auto", key=None).exit_code == 0
    db = tmp_path / "batchbot.db"
    assert rows(db, "select job, mode from runs order by id") == [
        {"job": "tea", "mode": "flex"},
        {"job": "small", "mode": "sync"},
    ]
    assert rows(db, "select distinct service_tier from requests where job = 'tea'") == [
        {"service_tier": "flex"}
    ]
