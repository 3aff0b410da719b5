"""Small things a new user reads: counts in words, where a mode came from, a written file."""

from __future__ import annotations

import pytest
from batched import FIVE


@pytest.mark.parametrize(
    ("job_text", "flags", "line"),
    [
        ("", [], "  mode: sync (the default)"),
        ("mode: batch\n", [], "  mode: batch (mode: batch in the job file)"),
        ("mode: batch\n", ["--mode", "sync"], "  mode: sync (--mode sync)"),
    ],
)
def test_dry_run_says_where_the_mode_came_from(write_job, invoke, job_text, flags, line):
    """The dry run names who chose the mode: nobody (the default), the job file or --mode."""
    job = write_job("j.yaml", f"model: gpt-4o-mini\n{job_text}prompts: [one]\n")
    result = invoke("run", str(job), "--dry-run", *flags, key=None)
    assert result.exit_code == 0, result.output
    assert line in result.stdout.splitlines()


def test_one_item_is_one_item(write_job, invoke, fake_api):
    """A one-prompt job says `1 item`, not `1 items`, in the dry run and the progress."""
    job = write_job("j.yaml", "model: gpt-4o-mini\nparams: {max_tokens: 5}\nprompts: [one]\n")
    assert invoke("run", str(job), "--dry-run", key=None).stdout.startswith("j: 1 item, ")
    result = invoke("run", str(job), "--base-url", fake_api.url)
    assert result.output.splitlines()[0] == "j: 1 item"
    again = invoke("run", str(job), "--base-url", fake_api.url)
    assert "nothing to send, all 1 item already answered" in again.output


def test_every_option_has_help():
    """Every option of every command says what it does in --help."""
    import click

    from batchbot.cli import cli

    silent = [
        f"{name} {param.opts[0]}"
        for name, command in cli.commands.items()
        for param in command.params
        if isinstance(param, click.Option) and not param.help
    ]
    assert silent == []


def test_report_html_says_what_it_wrote(tmp_path, write_job, invoke, fake_api):
    """report --html names the file it wrote, on stderr, so stdout stays the table."""
    job = write_job("j.yaml", "model: gpt-4o-mini\nprompts: [one]\n")
    assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0
    result = invoke("report", "--html", "spend.html")
    assert result.exit_code == 0
    assert result.stderr == "wrote spend.html\n"
    assert "wrote" not in result.stdout


def test_dry_run_shows_the_mode(write_job, invoke):
    """--dry-run says which engine --mode auto picks and why."""
    job = write_job("nightly.yaml", FIVE)
    result = invoke("run", str(job), "--mode", "auto", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "mode: sync (auto: 5 items to send" in result.output
