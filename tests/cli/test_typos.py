"""Typos in a job are refused before anything is sent, by a real run as by the dry run: exit 2
with what was probably meant. A parameter a compatible server takes passes when allowed."""

from __future__ import annotations

import sqlite3

MISSPELT = "params.max_token: is not a parameter of Chat Completions (did you mean 'max_tokens'?)"


def big_job(write_job, params: str, count: int = 300):
    prompts = "".join(f"  - Question {i}?\n" for i in range(count))
    return write_job("j.yaml", f"model: gpt-4o-mini\n{params}prompts:\n{prompts}")


def test_a_misspelt_parameter_sends_nothing(tmp_path, write_job, invoke, fake_api):
    """A 300-item job with max_token: exit 2 with the did-you-mean; the server hears nothing."""
    job = big_job(write_job, "params: {max_token: 50}\n")
    result = invoke("run", str(job), "--base-url", fake_api.url)
    assert result.exit_code == 2, result.output
    assert f"j.yaml:2:10: {MISSPELT}" in result.stderr
    assert "--allow-param max_token" in result.stderr
    assert "resume" not in result.output
    assert fake_api.stats.requests == 0
    assert not (tmp_path / "batchbot.db").exists()


def test_the_dry_run_refuses_it_the_same_way(write_job, invoke):
    """--dry-run stops at the same line with the same words and exit code."""
    job = big_job(write_job, "params: {max_token: 50}\n", count=2)
    result = invoke("run", str(job), "--dry-run", key=None)
    assert result.exit_code == 2
    assert f"j.yaml:2:10: {MISSPELT}" in result.stderr


def rows(db, sql):
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_allow_param_sends_a_parameter_the_endpoint_lacks(tmp_path, write_job, invoke, fake_api):
    """--allow-param top_k sends top_k as it is: the fake, as strict as OpenAI, refuses it, which
    a compatible server taking it would not."""
    job = write_job(
        "j.jsonl",
        '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], "top_k": 40}\n',
    )
    result = invoke("run", str(job), "--base-url", fake_api.url, "--allow-param", "top_k")
    assert result.exit_code == 1, result.output
    assert "400: Unrecognized request argument supplied: top_k" in result.output
    ((request,),) = rows(tmp_path / "batchbot.db", "select request from requests")
    assert '"top_k":40' in request


def test_extra_params_go_with_every_request(tmp_path, write_job, invoke, fake_api):
    """A YAML job's extra_params are sent in every request, beside its params."""
    job = big_job(write_job, "params: {max_tokens: 5}\nextra_params: {top_k: 40}\n", count=2)
    result = invoke("run", str(job), "--base-url", fake_api.url)
    assert result.exit_code == 1, result.output
    assert "2 × 400: Unrecognized request argument supplied: top_k" in result.output
    requests = rows(tmp_path / "batchbot.db", "select request from requests")
    assert all('"max_tokens":5' in r and '"top_k":40' in r for (r,) in requests)


def test_a_misspelt_model_is_refused_before_sending(tmp_path, write_job, invoke):
    """Against OpenAI's API (here the simulated one) a model the API does not have stops the
    job before anything is sent: exit 2 with the model probably meant."""
    job = write_job("j.yaml", "model: gpt-4o-mni\nparams: {max_tokens: 5}\nprompts: [a, b]\n")
    result = invoke("run", str(job), "--fake")
    assert result.exit_code == 2, result.output
    assert (
        "Error: the API has no model 'gpt-4o-mni' this key can use (did you mean 'gpt-4o-mini'?)"
    ) in result.stderr
    assert "resume" not in result.output
    assert rows(tmp_path / "batchbot.db", "select count(*) from runs") == [(0,)]


def test_the_dry_run_warns_about_a_model_it_does_not_know(write_job, invoke):
    """The dry run cannot ask the API: it says the run will, with the model probably meant."""
    job = write_job("j.yaml", "model: gpt-4o-mni\nparams: {max_tokens: 5}\nprompts: [a]\n")
    result = invoke("run", str(job), "--dry-run", key=None)
    assert result.exit_code == 0
    assert (
        "  warning: 'gpt-4o-mni' is not a model batchbot knows (did you mean 'gpt-4o-mini'?): a "
        "run asks the API first, and stops before sending anything if the API does not have it"
    ) in result.stdout


def test_a_model_the_api_has_runs_though_batchbot_has_no_price(tmp_path, write_job, invoke):
    """A fine-tune the API serves runs (its cost unknown), though no price table has it."""
    job = write_job("j.yaml", "model: 'ft:gpt-4o-mini:acme::x1'\nprompts: [a]\n")
    result = invoke("run", str(job), "--fake")
    assert result.exit_code == 0, result.output
    assert rows(tmp_path / "batchbot.db", "select status from requests") == [("ok",)]


def test_a_compatible_server_judges_its_own_model_names(write_job, invoke, fake_api):
    """A base URL other than OpenAI's names models freely: the server's 404 stops the run, exit
    2 with what to fix, and no advice to resume."""
    job = write_job("j.yaml", "model: gpt-4o-mni\nprompts: [a, b]\n")
    result = invoke("run", str(job), "--base-url", fake_api.url, "--concurrency", "1")
    assert result.exit_code == 2, result.output
    assert "The model 'gpt-4o-mni' does not exist or this key cannot use it (404)" in result.output
    assert "(did you mean 'gpt-4o-mini'?)" in result.output
    assert "resume" not in result.output
    assert fake_api.stats.requests == 1


def test_a_misspelt_model_key_suggests_model(write_job, invoke):
    """`modle:` in a job file is suggested as `model`, not as `mode`."""
    job = write_job("j.yaml", "modle: gpt-4o-mini\nprompts: [a]\n")
    result = invoke("run", str(job), "--dry-run", key=None)
    assert result.exit_code == 2
    assert "j.yaml:1:1: modle: unknown key; did you mean 'model'?" in result.stderr
