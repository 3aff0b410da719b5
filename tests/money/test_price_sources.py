"""Every price source works with a budget: the budget, the dry run and the stored cost price a
request by one lookup, whether the price comes from prices:, a prices file, price_as or an
Azure deployment priced as the model it serves."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from stored import rows

from batchbot.fake.server import FakeServer
from batchbot.tokens.count import input_tokens

ROOT = Path(__file__).resolve().parent.parent.parent
PROMPTS = "prompts:\n  - What is a chatbot?\n  - How do I keep my API key safe?\n"
AZURE_KEY = "azure-test-key"
# Per million tokens: a price no table has, so a run priced from elsewhere would show.
DEAR = {"input": 100.0, "output": 400.0}


@pytest.fixture
def azure(monkeypatch) -> Iterator[FakeServer]:
    """A fake API taking only AZURE_KEY, with AZURE_OPENAI_* pointing batchbot at it."""
    server = FakeServer(api_key=AZURE_KEY).start_in_thread()
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.url.removesuffix("/v1"))
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", AZURE_KEY)
    yield server
    server.stop()


SOURCES = {
    "prices: in the job": ("model: my-finetune\nprices: {my-finetune: {input: 100, output: 400}}\n",
                           DEAR, "job file"),
    "a prices file": ("model: my-finetune\n", DEAR, "prices file"),
    "price_as:": ("model: gpt-4o-mini\nprice_as: gpt-4o\n", {"input": 2.5, "output": 10.0},
                  "genai-prices"),
}  # fmt: skip


@pytest.mark.parametrize(("settings", "price", "source"), SOURCES.values(), ids=SOURCES.keys())
def test_a_budget_prices_requests_as_the_stored_cost_does(
    tmp_path, write_job, invoke, fake_api, settings, price, source
):
    """Under --max-cost: a budget under one request's worst case (at this source's price)
    sends nothing; a larger one sends all, each answer stored at this source's price, and the
    dry run's worst case is the same sum."""
    write_job("prices.yaml", "my-finetune: {input: 100, output: 400}\n")
    job = write_job("job.yaml", f"{settings}params: {{max_tokens: 50}}\n{PROMPTS}")
    flags = ("--base-url", fake_api.url, "--prices", "prices.yaml")
    if "my-finetune" in settings:  # the fake serves fine-tunes of models it knows
        job.write_text(job.read_text().replace("my-finetune", "ft:gpt-4o-mini:acme::x"))
        (tmp_path / "prices.yaml").write_text("ft:gpt-4o-mini:acme::x: {input: 100, output: 400}\n")
    worst = [
        (input_tokens({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": q}]})
         * price["input"] + 50 * price["output"]) / 1e6
        for q in ("What is a chatbot?", "How do I keep my API key safe?")
    ]  # fmt: skip
    dry = invoke("run", str(job), *flags, "--dry-run", "--json", "--max-cost", "1")
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["worst_cost_usd"] == pytest.approx(sum(worst), abs=1e-6)

    short = invoke("run", str(job), *flags, "--max-cost", str(min(worst) * 0.9))
    assert short.exit_code == 3, short.output
    assert "budget reached" in short.output
    assert fake_api.stats.requests == 0

    result = invoke("run", str(job), *flags, "--max-cost", str(sum(worst) * 1.01))
    assert result.exit_code == 0, result.output
    for row in rows(tmp_path / "batchbot.db", "select * from requests"):
        expected = (
            row["prompt_tokens"] * price["input"] + row["completion_tokens"] * price["output"]
        ) / 1e6
        assert row["cost_usd"] == pytest.approx(expected)
        assert json.loads(str(row["price"]))["source"].startswith(source)


def test_a_budget_without_any_price_still_stops_before_sending(write_job, invoke, fake_api):
    """The same lookup with nothing to find: exit 2, naming the model and what to add."""
    job = write_job(
        "job.yaml", f"model: ft:gpt-4o-mini:acme::x\nparams: {{max_tokens: 5}}\n{PROMPTS}"
    )
    result = invoke("run", str(job), "--base-url", fake_api.url, "--max-cost", "1")
    assert result.exit_code == 2
    assert "no price is known for model 'ft:gpt-4o-mini:acme::x'" in result.output
    assert fake_api.stats.requests == 0


def azure_example() -> tuple[str, list[str]]:
    """docs/endpoints.md's Azure example: its job file and its batchbot command."""
    page = (ROOT / "docs" / "endpoints.md").read_text()
    section = page.split("## Azure OpenAI", 1)[1]
    (job,) = re.findall(r"^```yaml\n(.*?)^```", section, re.M | re.S)
    (shell,) = re.findall(r"^```bash\n(.*?)^```", section, re.M | re.S)
    (command,) = [line for line in shell.splitlines() if line.startswith("batchbot run")]
    return job, shlex.split(command)[1:]


def test_the_azure_example_of_the_docs_runs_under_a_budget(tmp_path, invoke, azure):
    """docs/endpoints.md's Azure job, run as written with its --max-cost against the fake
    Azure endpoint: answered within the budget, priced as the model its price_as names."""
    job, args = azure_example()
    assert "--max-cost" in args
    shipped = (ROOT / args[1]).read_text()
    assert job.removeprefix(f"# {args[1]}\n") in shipped  # the page shows the job as shipped
    path = tmp_path / args[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(shipped)
    result = invoke(*args, key=None)
    assert result.exit_code == 0, result.output
    stored = rows(tmp_path / "batchbot.db", "select * from requests")
    assert stored
    assert {json.loads(str(row["price"]))["model"] for row in stored} == {"gpt-4o"}
    for row in stored:
        expected = (row["prompt_tokens"] * 2.5 + row["completion_tokens"] * 10.0) / 1e6
        assert row["cost_usd"] == pytest.approx(expected)
