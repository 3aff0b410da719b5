"""batchbot as a library: everything a script needs comes from `import batchbot`."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import batchbot
from batchbot import (
    BatchbotError,
    Config,
    RateLimits,
    ReportQuery,
    RunSummary,
    cancel_batches,
    dry_run,
    load_job,
    open_store,
    run_job,
    run_job_async,
    spend_report,
)

FAQ = "model: gpt-4o-mini\nprompts:\n  - What is a chatbot?\n  - How do I keep my API key safe?\n"
FAST = {"rpm": 60_000, "tpm": 100_000_000}  # pacing has its own tests


@pytest.fixture
def faq(tmp_path, monkeypatch):
    """A two-prompt job file, and a key in the environment as a script would have it."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    path = tmp_path / "faq.yaml"
    path.write_text(FAQ, encoding="utf-8")
    return path


def test_run_a_job_and_read_its_report(faq, tmp_path, fake_api):
    """run_job answers every prompt, a second run sends nothing, and the report sums the cost."""
    db_path = tmp_path / "answers.db"
    summary = run_job(load_job(faq), base_url=fake_api.url, db_path=str(db_path), **FAST)
    assert isinstance(summary, RunSummary)
    assert (summary.answered, summary.failed, summary.status, summary.exit_code) == (
        2, 0, "done", 0
    )  # fmt: skip
    again = run_job(faq, base_url=fake_api.url, db_path=str(db_path), **FAST)
    assert (again.skipped, again.sent, fake_api.stats.requests) == (2, 0, 2)
    db = open_store(db_path)
    try:
        (total,) = spend_report(db, ReportQuery())
        by_model = spend_report(db, ReportQuery(by=("model",)))
    finally:
        db.close()
    assert (total["requests"], total["answered"]) == (2, 2)
    assert total["cost_usd"] == pytest.approx(summary.cost_usd)
    assert [row["model"] for row in by_model] == ["gpt-4o-mini"]


def test_async_variant_with_a_config(faq, tmp_path, fake_api):
    """run_job_async runs inside an existing event loop, with every setting given as a Config."""
    limits = RateLimits.set_by_user(**FAST)
    url = fake_api.url
    config = Config(db_path=tmp_path / "a.db", api_key="sk-test", base_url=url, limits=limits)
    summary = asyncio.run(run_job_async(faq, config=config))
    assert (summary.answered, summary.mode, summary.db_path) == (2, "sync", str(config.db_path))


def test_dry_run_counts_what_is_left_and_sends_nothing(faq, tmp_path, fake_api):
    """dry_run counts the items still to answer and names the engine; it sends nothing."""
    db_path = str(tmp_path / "answers.db")
    before = dry_run(faq, base_url=fake_api.url, db_path=db_path, **FAST)
    assert (before.estimate.items, before.estimate.to_send, before.mode.mode) == (2, 2, "sync")
    assert before.estimate.prompt_tokens > 0
    assert fake_api.stats.requests == 0
    run_job(faq, base_url=fake_api.url, db_path=db_path, **FAST)
    after = dry_run(faq, base_url=fake_api.url, db_path=db_path, **FAST)
    assert (after.estimate.already_answered, after.estimate.to_send) == (2, 0)
    assert fake_api.stats.requests == 2


def test_cancel_batches_returns_items_of_an_open_batch_to_be_sent_again(
    faq, tmp_path, batch_api, monkeypatch
):
    """cancel_batches asks the API to cancel the job's open batch and the next run collects it;
    with no key it says so in Python's words."""
    db_path = str(tmp_path / "answers.db")
    submitted = run_job(faq, base_url=batch_api.url, db_path=db_path, mode="batch")
    assert submitted.exit_code == 0
    cancelled = cancel_batches(faq, base_url=batch_api.url, db_path=db_path)
    assert [row["status"] for row in cancelled.asked] == ["cancelling"]
    collected = run_job(faq, base_url=batch_api.url, db_path=db_path, mode="batch")
    assert collected.exit_code == 0
    assert [batch.status for batch in batch_api.batches.all()] == ["cancelled"]
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(BatchbotError, match="fake=True"):
        cancel_batches(faq, db_path=db_path)  # OpenAI itself: a key is needed


def test_errors_are_batchbot_errors(tmp_path, faq):
    """Bad input raises a BatchbotError before anything is sent; mixed settings a TypeError."""
    with pytest.raises(BatchbotError, match=r"missing\.yaml"):
        run_job(tmp_path / "missing.yaml", fake=True)
    with pytest.raises(BatchbotError, match="no database at"):
        open_store(tmp_path / "none.db")
    with pytest.raises(TypeError, match="not both"):
        run_job(faq, config=Config(), fake=True)


def test_all_is_sorted_and_every_name_resolves():
    """`__all__` is sorted, has no duplicates, and each name in it imports."""
    assert batchbot.__all__ == sorted(set(batchbot.__all__))
    for name in batchbot.__all__:
        assert getattr(batchbot, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = batchbot.nothing


def test_importing_batchbot_loads_none_of_the_machinery():
    """`import batchbot` stays cheap: the exports load on first use, not at import."""
    code = "import batchbot, sys; print(sorted(m for m in sys.modules if m.startswith('batchbot')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert loaded.stdout.strip() == "['batchbot', 'batchbot.version']", loaded.stderr


def test_no_key_is_one_line_in_the_words_of_python(tmp_path, monkeypatch):
    """With no key, run_job raises one line that names fake=True, not the CLI's flags."""
    (tmp_path / "faq.yaml").write_text(FAQ, encoding="utf-8")
    with pytest.raises(BatchbotError) as caught:
        run_job(tmp_path / "faq.yaml")
    assert str(caught.value) == (
        "No OpenAI API key: set OPENAI_API_KEY in the environment or in .env in the working "
        "directory, or pass fake=True to try the job against the simulated API."
    )
    assert caught.value.exit_code == 2


def test_flags_in_messages_become_keyword_arguments(faq):
    """A message that names a flag names run_job's keyword instead."""
    with pytest.raises(BatchbotError) as caught:
        run_job(faq, fake=True, on_length="retry")
    assert "(or pass max_tokens_cap=)" in str(caught.value)
    assert "--" not in str(caught.value)


def test_dotenv_in_the_working_directory_is_read(tmp_path, fake_api):
    """run_job reads ./.env as the CLI does: its key and base URL reach the run."""
    (tmp_path / ".env").write_text(f"OPENAI_API_KEY=sk-test\nOPENAI_BASE_URL={fake_api.url}\n")
    (tmp_path / "faq.yaml").write_text(FAQ, encoding="utf-8")
    summary = run_job("faq.yaml", **FAST)
    assert (summary.answered, fake_api.stats.answered) == (2, 2)


def test_the_readme_example_ends_in_one_line_without_a_key(tmp_path):
    """The README's Python example, run with no key, prints what to do and no traceback."""
    root = Path(batchbot.__file__).parents[1]
    readme = (root / "README.md").read_text(encoding="utf-8")
    example = readme.split("```python\n", 1)[1].split("```", 1)[0]
    shutil.copytree(root / "jobs", tmp_path / "jobs")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "BATCHBOT_"))}
    env["PYTHONPATH"] = str(root)
    done = subprocess.run(
        [sys.executable, "-c", example], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        "batchbot: No OpenAI API key: set OPENAI_API_KEY in the environment or in .env in the "
        "working directory, or pass fake=True to try the job against the simulated API.\n"
    )
