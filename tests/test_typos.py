"""Typos in a job: the fake refuses them as the API would, and the dry run says so first."""

from __future__ import annotations

TYPOS = "model: gpt-4o-mni\nparams: {max_token: 300}\nprompts: [one, two]\n"


def test_dry_run_warns_about_typos(write_job, invoke):
    """--dry-run names an unknown parameter and model, each with what was probably meant."""
    result = invoke("run", str(write_job("j.yaml", TYPOS)), "--dry-run", key=None)
    assert result.exit_code == 0
    assert (
        "  warning: 'max_token' is not a Chat Completions parameter (did you mean 'max_tokens'?):"
        " the API will refuse the 2 items that set it\n"
        "  warning: 2 items set no max_tokens: each is assumed to use up to 1,024 completion "
        "tokens\n"
    ) in result.stdout
    assert "no price known for model 'gpt-4o-mni' (did you mean 'gpt-4o-mini'?)" in result.stderr


def test_unknown_parameter_fails_items_as_the_api_would(write_job, invoke, fake_api):
    """A misspelt parameter is refused by the fake: the items fail with the API's message."""
    job = write_job("j.yaml", "model: gpt-4o-mini\nparams: {max_token: 300}\nprompts: [a, b]\n")
    result = invoke("run", str(job), "--base-url", fake_api.url, "--quiet")
    assert result.exit_code == 1
    assert "failed: 2 × 400: Unrecognized request argument supplied: max_token" in result.output
    assert fake_api.stats.answered == 0


def test_unknown_model_stops_the_run(write_job, invoke, fake_api):
    """A misspelt model is a 404 model_not_found from the fake: the run stops, exit 3."""
    job = write_job("j.yaml", "model: gpt-4o-mni\nprompts: [a, b]\n")
    result = invoke("run", str(job), "--base-url", fake_api.url, "--quiet")
    assert result.exit_code == 3
    assert "The model 'gpt-4o-mni' does not exist or this key cannot use it (404)" in result.output
    assert fake_api.stats.answered == 0
