"""End to end: Responses and Azure jobs, and every endpoint through the same pipeline."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

JOBS = Path(__file__).resolve().parents[2] / "jobs"


def rows(db: Path, sql: str, *params: object) -> list[dict[str, object]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(sql, params)]


RESPONSES_JOB = """\
endpoint: /v1/responses
model: gpt-4.1-mini
system: Answer in one sentence.
params: {max_output_tokens: 200}
prompts:
  - What is a chatbot?
  - {id: cut, user: 'Tell me everything about API keys.', params: {max_output_tokens: 16}}
  - id: talk
    messages:
      - {role: user, content: Hi}
      - {role: assistant, content: Hello!}
      - {role: user, content: Bye}
"""


def test_responses_job_stores_text_finish_reason_and_usage(tmp_path, write_job, invoke, fake_api):
    """Each Responses answer keeps its text, status, usage and price; a cut one says `length`."""
    job = write_job("answers.yaml", RESPONSES_JOB)
    result = invoke("run", str(job), "--base-url", fake_api.url)
    assert result.exit_code == 0, result.output
    stored = {r["item_id"]: r for r in rows(tmp_path / "batchbot.db", "select * from requests")}
    assert len(stored) == 3
    cut = stored.pop("cut")
    assert (cut["status"], cut["finish_reason"], cut["response_status"]) == (
        "truncated",
        "length",
        "incomplete",
    )
    assert cut["completion_tokens"] == 16
    for row in stored.values():
        assert (row["status"], row["finish_reason"], row["response_status"]) == (
            "ok",
            "stop",
            "completed",
        )
    for row in [cut, *stored.values()]:
        assert row["content"]
        assert row["prompt_tokens"] > 0
        assert row["total_tokens"] == row["prompt_tokens"] + row["completion_tokens"]
        assert row["cost_usd"] == pytest.approx(
            (row["prompt_tokens"] * 0.4 + row["completion_tokens"] * 1.6) / 1e6
        )
    body = json.loads(stored["talk"]["request"])
    assert body["instructions"] == "Answer in one sentence."
    assert [item["role"] for item in body["input"]] == ["user", "assistant", "user"]
    exported = [json.loads(line) for line in invoke("export", str(job)).output.splitlines()]
    assert [line["prompt"] for line in exported] == [
        "What is a chatbot?",
        "Tell me everything about API keys.",
        "Bye",
    ]


def test_responses_batch_lines_pass_their_body_through(tmp_path, write_job, invoke, fake_api):
    """A Batch API file for /v1/responses runs as is: tools, text.format and reasoning included."""
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    body = {
        "model": "o4-mini",
        "input": [{"role": "user", "content": "Say hi as JSON"}],
        "text": {"format": {"type": "json_schema", "name": "hi", "schema": schema}},
        "reasoning": {"effort": "low"},
        "max_output_tokens": 2000,
    }
    line = {"custom_id": "r1", "method": "POST", "url": "/v1/responses", "body": body}
    job = write_job("r.jsonl", json.dumps(line) + "\n")
    result = invoke("run", str(job), "--base-url", fake_api.url)
    assert result.exit_code == 0, result.output
    (row,) = rows(tmp_path / "batchbot.db", "select * from requests")
    assert json.loads(row["request"]) == body
    assert row["reasoning_tokens"] > 0  # a reasoning model thinks in hidden tokens
    assert row["completion_tokens"] > row["reasoning_tokens"]
    (run,) = rows(tmp_path / "batchbot.db", "select endpoint from runs")
    assert run["endpoint"] == "/v1/responses"


def test_responses_charge_their_input_and_max_output_tokens(write_job, invoke, fake_api):
    """batchbot's TPM charge for Responses requests is what the fake API charges for them."""
    from batchbot.jobs.job import load_job
    from batchbot.tokens.count import request_tokens

    job = write_job("answers.yaml", RESPONSES_JOB)
    assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0
    ours = sum(request_tokens(item.body, "/v1/responses") for item in load_job(job).items())
    assert ours == fake_api.stats.tokens_charged


AZURE_KEY = "azure-test-key"


@pytest.fixture
def azure_api(monkeypatch):
    """A fake API that only takes AZURE_KEY, with AZURE_OPENAI_* pointing batchbot at it."""
    from batchbot.fake.server import FakeServer

    server = FakeServer(api_key=AZURE_KEY).start_in_thread()
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.url.removesuffix("/v1"))
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", AZURE_KEY)
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("endpoint", "prompt_price"),
    [("/v1/chat/completions", 0.15), ("/v1/responses", 0.15), ("/v1/embeddings", 0.02)],
)
def test_azure_job_runs_on_deployment_paths_priced_as(
    tmp_path, write_job, invoke, azure_api, endpoint, prompt_price
):
    """An Azure job reaches its deployment with its api-key and is priced as `price_as` says."""
    price_as = "text-embedding-3-small" if endpoint == "/v1/embeddings" else "gpt-4o-mini"
    job = write_job(
        "azure.yaml",
        f"model: my-deployment\nprice_as: {price_as}\nendpoint: {endpoint}\n"
        "prompts: [What is a chatbot, How do I keep my API key safe]\n",
    )
    result = invoke("run", str(job), "--api-version", "2024-10-21", key=None)
    assert result.exit_code == 0, result.output
    assert azure_api.stats.requests == (1 if endpoint == "/v1/embeddings" else 2)
    stored = rows(tmp_path / "batchbot.db", "select * from requests")
    assert len(stored) == 2
    for row in stored:
        assert row["status"] == "ok"
        assert row["response_model"] == "my-deployment"
        expected = (row["prompt_tokens"] * prompt_price + row["completion_tokens"] * 0.6) / 1e6
        assert row["cost_usd"] == pytest.approx(expected)
        assert json.loads(row["price"])["model"] == price_as
    headers = rows(tmp_path / "batchbot.db", "select ratelimit from attempts")
    assert set(json.loads(headers[0]["ratelimit"])) == {
        "x-ratelimit-remaining-requests",
        "x-ratelimit-remaining-tokens",
    }


def test_azure_key_is_required(write_job, invoke, azure_api, monkeypatch):
    """A wrong Azure key stops the run as a bad key does on OpenAI, and is never printed."""
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "wrong-azure-key")
    job = write_job("azure.yaml", "model: my-deployment\nprompts: [Hi]\n")
    result = invoke("run", str(job), key=None)
    assert result.exit_code == 2, result.output
    assert "wrong-azure-key" not in result.output
    assert azure_api.stats.by_status == {401: 1}


def test_batch_mode_runs_a_responses_job(tmp_path, write_job, invoke, fake_api, monkeypatch):
    """--mode batch sends a Responses job through the Batch API; its answers cost half."""
    monkeypatch.setattr(fake_api.batches, "delay_s", 0.1)
    job = write_job("answers.yaml", RESPONSES_JOB)
    args = ("--mode", "batch", "--wait", "--poll-interval", "0.05", "--base-url", fake_api.url)
    result = invoke("run", str(job), *args)
    assert result.exit_code == 0, result.output
    assert "collected 1 batch(es): 3 answered" in result.output
    stored = {r["item_id"]: r for r in rows(tmp_path / "batchbot.db", "select * from requests")}
    assert stored["cut"]["finish_reason"] == "length"
    assert stored["cut"]["response_status"] == "incomplete"
    for row in stored.values():
        assert row["mode"] == "batch"
        assert row["content"]
        assert row["cost_usd"] == pytest.approx(
            (row["prompt_tokens"] * 0.4 + row["completion_tokens"] * 1.6) / 2e6
        )
    assert fake_api.stats.requests == 0  # nothing went to /v1/responses directly


@pytest.mark.parametrize(
    ("endpoint", "cap", "budget"),
    [
        ("/v1/chat/completions", "max_tokens: 50", 0.3),
        ("/v1/responses", "max_output_tokens: 50", 0.3),
        ("/v1/embeddings", "dimensions: 8", 0.02),
    ],
)
def test_every_endpoint_meets_the_same_retry_policy_and_budget(
    tmp_path, write_job, invoke, fake_api, endpoint, cap, budget
):
    """A transient fault is retried and a budget stops the run the same way on every endpoint."""
    prompts = ", ".join(["'first [[fake:503x1]]'"] + [f"'question {i}'" for i in range(11)])
    model = "text-embedding-3-small" if endpoint == "/v1/embeddings" else "gpt-4o-mini"
    job = write_job(
        "j.yaml",
        f"model: {model}\nendpoint: {endpoint}\nparams: {{{cap}}}\n"
        f"prices: {{{model}: {{input: 1000, output: 1000}}}}\n"
        + ("pack: 2\n" if endpoint == "/v1/embeddings" else "")
        + f"prompts: [{prompts}]\n",
    )
    result = invoke(
        "run", str(job), "--base-url", fake_api.url, "--max-cost", str(budget), "--concurrency", "1"
    )
    assert result.exit_code == 3, result.output
    assert "budget reached" in result.output
    stored = rows(tmp_path / "batchbot.db", "select * from requests where status != 'pending'")
    assert 0 < len(stored) < 12
    assert sum(row["cost_usd"] for row in stored) <= budget
    first = [row for row in stored if "503" in row["request"]]
    assert [row["attempts"] for row in first] == [2]


def test_azure_without_its_key_or_in_batch_mode_is_refused(
    write_job, invoke, azure_api, monkeypatch
):
    """No AZURE_OPENAI_API_KEY, or --mode batch on Azure, stops before sending with one line."""
    job = write_job("azure.yaml", "model: my-deployment\nprompts: [Hi]\n")
    batch = invoke("run", str(job), "--mode", "batch", key=None)
    assert batch.exit_code == 2
    assert "does not run Azure OpenAI's Batch API yet" in batch.output
    monkeypatch.delenv("AZURE_OPENAI_API_KEY")
    keyless = invoke("run", str(job), key="sk-openai-key-not-for-azure")
    assert keyless.exit_code == 2
    assert "No Azure OpenAI API key: set AZURE_OPENAI_API_KEY" in keyless.output
    assert azure_api.stats.requests == 0


def test_report_by_endpoint_adds_up_to_the_total(write_job, invoke, fake_api):
    """`report --by endpoint` splits the spend of jobs on several endpoints; the rows sum to it."""
    for name, endpoint in [("chat", "/v1/chat/completions"), ("resp", "/v1/responses")]:
        job = write_job(
            f"{name}.yaml", f"endpoint: {endpoint}\nmodel: gpt-4o-mini\nprompts: [a, b]\n"
        )
        assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0
    write_job("texts.csv", "id,text\n" + "".join(f"t{i},text {i}\n" for i in range(30)))
    job = write_job(
        "embed.yaml",
        "endpoint: /v1/embeddings\nmodel: text-embedding-3-small\ntemplate: '{text}'\n"
        "inputs: texts.csv\n",
    )
    assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0
    by_endpoint = json.loads(invoke("report", "--by", "endpoint", "--json").output)
    (total,) = json.loads(invoke("report", "--json").output)
    assert [row["endpoint"] for row in by_endpoint] == [
        "/v1/chat/completions",
        "/v1/embeddings",
        "/v1/responses",
    ]
    assert [row["requests"] for row in by_endpoint] == [2, 30, 2]
    for column in ("requests", "prompt_tokens", "completion_tokens"):
        assert sum(row[column] for row in by_endpoint) == total[column]
    assert sum(row["cost_usd"] for row in by_endpoint) == pytest.approx(total["cost_usd"])


def test_responses_example_runs_against_the_fake_api(tmp_path, invoke, fake_api):
    """jobs/responses.yaml runs as shipped and answers every item."""
    shutil.copy(JOBS / "responses.yaml", tmp_path / "responses.yaml")
    result = invoke("run", "responses.yaml", "--base-url", fake_api.url)
    assert result.exit_code == 0, result.output
    stored = rows(tmp_path / "batchbot.db", "select status from requests")
    assert [row["status"] for row in stored] == ["ok"] * 3


def test_azure_limits_are_spoken_of_in_azures_terms(write_job, invoke, monkeypatch):
    """Azure's headers (remaining counts, no reset) are named as Azure's, not as LiteLLM's
    fixed minute."""
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://my-resource.openai.azure.com")
    job = write_job("azure.yaml", "model: my-deployment\nparams: {max_tokens: 5}\nprompts: [a]\n")
    result = invoke("run", str(job), "--fake", key=None)
    assert result.exit_code == 0, result.output
    assert (
        "batchbot: Azure OpenAI reports only remaining requests and tokens (no limit, no reset); "
        "pacing by the configured limits: give the deployment's quota with --rpm/--tpm"
    ) in result.output
    assert "fixed minute" not in result.output


def test_a_deployment_priced_as_a_model_runs_under_a_budget(
    tmp_path, write_job, invoke, monkeypatch
):
    """docs/endpoints.md's Azure example: a deployment with price_as runs under the job's
    budget (the price the budget needs comes from price_as), each answer priced as gpt-4o."""
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://my-resource.openai.azure.com")
    text = (
        "model: my-deployment\nprice_as: gpt-4o\nbudget_usd: 1\nparams: {max_tokens: 5}\n"
        "prompts: [a]\n"
    )
    result = invoke("run", str(write_job("azure.yaml", text)), "--fake", key=None)
    assert result.exit_code == 0, result.output
    (row,) = rows(tmp_path / "batchbot.db", "select cost_usd, price from requests")
    assert row["cost_usd"] > 0
    assert json.loads(row["price"])["model"] == "gpt-4o"
