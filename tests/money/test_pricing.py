"""Prices and costs: genai-prices offline, overrides, batch discount, unknown models, dry-run."""

from __future__ import annotations

import json
import logging
import sqlite3

import pytest

from batchbot.jobs.prices import load_price_file
from batchbot.money.pricing import Price, Pricer
from batchbot.money.usd import usd
from batchbot.outcome import Usage


@pytest.mark.parametrize(
    ("model", "usage", "expected"),
    [
        # (800 x 0.15 + 200 x 0.075 + 500 x 0.60) / 1e6
        pytest.param("gpt-4o-mini", Usage(1000, 500, 1500, 200, 0), 0.000435, id="4o-mini"),
        pytest.param(
            "gpt-4o-mini-2024-07-18", Usage(1000, 500, 1500, 200, 0), 0.000435, id="dated"
        ),
        # (1000 x 2.5 + 0 x 1.25 + 100 x 10) / 1e6
        pytest.param("gpt-4o", Usage(1000, 100, 1100, 0, 0), 0.0035, id="4o"),
        # (1000 x 1.1 + 1000 x 0.55 + 1000 x 4.4 + 2000 x 4.4) / 1e6: reasoning at output price
        pytest.param("o3-mini", Usage(2000, 3000, 5000, 1000, 2000), 0.01485, id="o3-mini"),
        # (0 x 1.25 + 4000 x 0.125 + 64 x 10 + 64 x 10) / 1e6
        pytest.param("gpt-5", Usage(4000, 128, 4128, 4000, 64), 0.00178, id="gpt-5"),
    ],
)
def test_cost_matches_hand_computed(model, usage, expected):
    """Prompt tokens cost the input or cached price, completion (reasoning too) the output."""
    price = Pricer().quiet(model)
    assert price is not None
    assert price.cost(usage) == pytest.approx(expected, rel=1e-12)
    assert price.source.startswith("genai-prices")


def test_batch_costs_half():
    """A Batch API request costs half of every price."""
    pricer = Pricer()
    usage = Usage(1000, 500, 1500, 200, 0)
    sync, batch = pricer.price("gpt-4o-mini"), pricer.price("gpt-4o-mini", batch=True)
    assert sync is not None
    assert batch is not None
    assert batch.cost(usage) == pytest.approx(sync.cost(usage) / 2)
    assert json.loads(batch.to_json())["batch"] is True


def test_override_beats_table_and_file(tmp_path):
    """The job's prices beat a prices file, which beats genai-prices."""
    prices = tmp_path / "prices.yaml"
    prices.write_text("gpt-4o-mini: {input: 1, output: 2}\nmy-finetune: {input: 3, output: 4}\n")
    pricer = Pricer(
        job_prices={"my-finetune": {"input": 0.30, "output": 1.20}},
        file_prices=load_price_file(prices),
    )
    assert pricer.price("my-finetune") == Price("my-finetune", 0.30, 1.20, source="job file")
    assert pricer.price("gpt-4o-mini") == Price("gpt-4o-mini", 1.0, 2.0, source="prices file")
    finetune = pricer.price("my-finetune")
    assert finetune is not None
    assert finetune.cost(Usage(1_000_000, 1_000_000, 0, 500_000, 0)) == pytest.approx(1.5)


def test_unknown_model_warns_once(caplog):
    """An unknown model has no price and one warning, however often it is asked for."""
    pricer = Pricer()
    with caplog.at_level(logging.WARNING, logger="batchbot"):
        assert pricer.price("my-own-model") is None
        assert pricer.price("my-own-model") is None
    assert [r.getMessage()[:39] for r in caplog.records] == [
        "no price known for model 'my-own-model'"
    ]


def test_worst_case():
    """The worst case: the prompt at the input price plus the full allowance at output price."""
    price = Price("m", input=2.0, output=8.0, cached_input=0.5)
    assert price.worst_case(1000, 300) == pytest.approx((2000 + 2400) / 1e6)


# A fine-tune the API serves and genai-prices has no price for.
FINE_TUNE = "ft:gpt-4.1-nano-2025-04-14:acme::custom"
JOB = """\
model: {model}
params: {{max_tokens: 50}}
{extra}
prompts: [What is a token, What is a rate limit, Why 429]
"""


def rows(db, sql):
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(sql)]


def test_run_stores_cost_and_price(tmp_path, write_job, invoke, fake_api):
    """Every answered row has its cost and the price used; the run has the total."""
    job = write_job("j.yaml", JOB.format(model="gpt-4o-mini", extra=""))
    result = invoke("run", str(job), "--base-url", fake_api.url)
    assert result.exit_code == 0, result.output
    stored = rows(tmp_path / "batchbot.db", "select * from requests")
    price = Pricer().quiet("gpt-4o-mini")
    assert price is not None
    for row in stored:
        usage = Usage(row["prompt_tokens"], row["completion_tokens"], 0, row["cached_tokens"])
        assert row["cost_usd"] == pytest.approx(price.cost(usage))
        assert json.loads(row["price"])["source"].startswith("genai-prices")
    (run,) = rows(tmp_path / "batchbot.db", "select cost_usd from runs")
    assert run["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in stored))
    assert usd(run["cost_usd"]) in result.output


def test_unknown_model_run_goes_on(tmp_path, write_job, invoke, fake_api):
    """A model nobody prices: rows with cost NULL, one warning, exit 0."""
    job = write_job("j.yaml", JOB.format(model=FINE_TUNE, extra=""))
    result = invoke("run", str(job), "--base-url", fake_api.url)
    assert result.exit_code == 0, result.output
    costs = rows(tmp_path / "batchbot.db", "select cost_usd, price from requests")
    assert costs == [{"cost_usd": None, "price": None}] * 3
    assert f"not counting {FINE_TUNE}: no price" in result.output
    assert result.output.count("no price known") == 1


def test_job_price_override_used_in_run(tmp_path, write_job, invoke, fake_api):
    """prices: in the job file prices a model genai-prices does not know."""
    extra = f"prices: {{'{FINE_TUNE}': {{input: 0.30, output: 1.20}}}}"
    job = write_job("j.yaml", JOB.format(model=FINE_TUNE, extra=extra))
    assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0
    for row in rows(tmp_path / "batchbot.db", "select * from requests"):
        expected = (row["prompt_tokens"] * 0.30 + row["completion_tokens"] * 1.20) / 1e6
        assert row["cost_usd"] == pytest.approx(expected)
        assert json.loads(row["price"])["source"] == "job file"


def test_dry_run_prices_and_sends_nothing(tmp_path, write_job, invoke, fake_api):
    """--dry-run needs no key and no network, and prints worst-case and expected cost."""
    extra = "prices: {gpt-4o-mini: {input: 100, output: 400}}"
    job = write_job("j.yaml", JOB.format(model="gpt-4o-mini", extra=extra))
    result = invoke("run", str(job), "--dry-run", "--base-url", fake_api.url, key=None)
    assert result.exit_code == 0, result.output
    assert fake_api.stats.requests == 0
    assert "prompt tokens:        33 (text 33, tools 0, images 0)\n" in result.output
    # worst: (33 x 100 + 150 x 400) / 1e6; expected: half the allowance, (3300 + 75 x 400) / 1e6
    assert "cost: at most $0.0633 (every allowance used), expected about $0.0333" in result.output
    assert "Nothing was sent (dry run)." in result.output


def test_prices_file_flag_and_env(tmp_path, write_job, invoke, fake_api, monkeypatch):
    """--prices (or BATCHBOT_PRICES) names a prices file; the job's own prices still win."""
    write_job("prices.yaml", f"'{FINE_TUNE}': {{input: 2, output: 4}}\n")
    job = write_job("j.yaml", JOB.format(model=FINE_TUNE, extra=""))
    assert (
        invoke("run", str(job), "--base-url", fake_api.url, "--prices", "prices.yaml").exit_code
        == 0
    )
    sources = {
        json.loads(r["price"])["source"]
        for r in rows(tmp_path / "batchbot.db", "select price from requests")
    }
    assert sources == {"prices file"}
    monkeypatch.setenv("BATCHBOT_PRICES", "prices.yaml")
    estimate = invoke("run", str(job), "--dry-run", "--db", "other.db", key=None)
    assert "cost: at most $0.000666" in estimate.output  # (33 x 2 + 150 x 4) / 1e6


def test_bad_prices_file_names_file_and_field(write_job, invoke, fake_api):
    """A broken prices file stops the run before anything is sent, naming the model and field."""
    write_job("prices.yaml", "my-finetune: {input: 2}\n")
    job = write_job("j.yaml", JOB.format(model="my-finetune", extra=""))
    result = invoke("run", str(job), "--base-url", fake_api.url, "--prices", "prices.yaml")
    assert result.exit_code == 2
    assert "prices.yaml:1: my-finetune: has no output price" in result.output
    assert fake_api.stats.requests == 0


@pytest.mark.parametrize(
    ("model", "tier", "rates"),
    [
        ("gpt-5-mini", "flex", (0.125, 0.0125, 1.0)),
        ("gpt-5-mini", "priority", (0.45, 0.045, 3.6)),
        ("gpt-5-mini", "fast", (0.45, 0.045, 3.6)),  # priority's other name
        ("gpt-5-mini", "auto", (0.25, 0.025, 2.0)),
        ("gpt-5-mini", None, (0.25, 0.025, 2.0)),
        ("gpt-4o-mini", "priority", (0.25, 0.125, 1.0)),
        ("o4-mini-2025-04-16", "flex", (0.55, 0.138, 2.2)),
    ],
)
def test_a_tier_is_priced_at_its_own_rates(model, tier, rates):
    """Flex and priority answers cost what genai-prices lists for that tier."""
    price = Pricer().price(model, tier=tier)
    assert price is not None
    assert (price.input, price.cached_input, price.output) == rates
    assert json.loads(price.to_json())["service_tier"] == (
        "default" if tier in (None, "auto") else price.tier
    )


@pytest.mark.parametrize(("model", "tier"), [("gpt-4o-mini", "flex"), ("gpt-5-mini", "scale")])
def test_a_tier_nobody_prices_has_no_price_and_one_warning(caplog, model, tier):
    """No Flex price for gpt-4o-mini, none at all for scale: no price (never the default
    one), said once per run."""
    pricer = Pricer()
    with caplog.at_level(logging.WARNING, logger="batchbot"):
        assert pricer.price(model, tier=tier) is None
        assert pricer.price(model, tier=tier) is None
    (record,) = caplog.records
    assert record.getMessage().startswith(f"no {tier} price known for model {model!r}")
    assert pricer.unknown == {f"{model} at {tier}"}


def test_prices_may_give_a_tier_of_their_own(tmp_path):
    """prices: {model: {..., flex: {...}}}: the tier's own prices; a tier not given has none."""
    prices = tmp_path / "prices.yaml"
    prices.write_text("m: {input: 2, output: 8, flex: {input: 1, output: 4, cached_input: 0.1}}\n")
    pricer = Pricer(file_prices=load_price_file(prices))
    assert pricer.price("m") == Price("m", 2.0, 8.0, source="prices file")
    assert pricer.price("m", tier="flex") == Price("m", 1.0, 4.0, 0.1, "prices file", tier="flex")
    assert pricer.quiet("m", tier="priority") is None


def test_a_request_may_cost_the_dearest_of_the_tiers_that_may_serve_it():
    """The worst case of a Flex request is priced at the default tier too, which may serve it;
    a Batch one at half the default's."""
    pricer = Pricer()
    body = {"model": "gpt-5-mini"}
    flex = pricer.request_prices(body, tier="flex")
    assert flex is not None
    assert [p.tier for p in flex] == ["flex", "default"]
    assert max(p.worst_case(1000, 100) for p in flex) == pytest.approx((250 + 200) / 1e6)
    (batch,) = pricer.request_prices(body, batch=True) or ()
    assert batch.batch
    assert batch.worst_case(1000, 100) == pytest.approx((125 + 100) / 1e6)
    assert pricer.request_prices({"model": "gpt-4o-mini", "service_tier": "flex"}) is None


def test_an_answer_is_priced_at_the_tier_that_served_it_with_its_list_price():
    """priced(): the served tier's cost, the list price (default tier, no cached input) and
    what cached input saved."""
    from batchbot.jobs.job import Item
    from batchbot.money.pricing import priced
    from batchbot.outcome import Outcome

    item = Item("a", {"model": "gpt-5-mini"}, "h", 1)
    usage = Usage(prompt_tokens=2000, completion_tokens=100, total_tokens=2100, cached_tokens=1024)
    answer = priced(Outcome(item, "ok", "t", "t", usage=usage, service_tier="flex"), Pricer())
    assert answer.cost_usd == pytest.approx((976 * 0.125 + 1024 * 0.0125 + 100 * 1.0) / 1e6)
    assert answer.list_usd == pytest.approx((2000 * 0.25 + 100 * 2.0) / 1e6)
    assert answer.prompt_cache_saved_usd == pytest.approx(1024 * (0.125 - 0.0125) / 1e6)


@pytest.mark.parametrize(
    ("amount", "shown", "exact"),
    [
        (0.0, "$0.00", "0.0"),
        (3.1e-05, "$0.000031", "0.000031"),
        (0.0034, "$0.0034", "0.0034"),
        (0.412345, "$0.412", "0.412345"),
        (0.5, "$0.50", "0.5"),
        (1.9874, "$1.99", "1.9874"),
        (1234.5, "$1,234.50", "1234.5"),
        (-0.0012, "-$0.0012", "-0.0012"),
        (1e-12, "$0.00", "0.0"),
    ],
)
def test_money_keeps_its_significant_digits(amount, shown, exact):
    """Small amounts show (never $0.0000); CSV's figure is a plain decimal to the nano-dollar."""
    from batchbot.money.usd import usd, usd_exact

    assert usd(amount) == shown
    assert usd_exact(amount) == exact
