"""The views a user reaches for in sqlite3 or Datasette, and what m005_views fills in."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from batchbot.store.store import Store

OLD_DB = Path(__file__).parents[1] / "data" / "batchbot-m001.db"
JOB = """\
model: gpt-4o-mini
params: {{max_tokens: {cap}}}
prompts:
  - {{id: short, user: Say hi}}
  - {{id: long, user: "{long}"}}
  - {{id: broken, user: "x [[fake:context_length_exceeded]]"}}
"""


def query(sql: str) -> list[tuple]:
    with sqlite3.connect("batchbot.db") as conn:
        return conn.execute(sql).fetchall()


def test_views_answer_what_users_ask(write_job, invoke, fake_api):
    """answers, failures and daily_spend: latest row per item, the prompt as text, cut-offs."""
    long = "Tell me everything about the sea, " * 5
    job = write_job("j.yaml", JOB.format(cap=1, long=long))
    assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 1
    job.write_text(JOB.format(cap=1, long="Now tell me about rivers"))
    assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 1
    answers = query("select item_id, prompt, finish_reason, status, run_id from answers order by 1")
    assert answers == [
        ("long", "Now tell me about rivers", "length", "truncated", 2),
        ("short", "Say hi", "length", "truncated", 1),
    ]
    failures = query("select item_id, prompt, error_code from failures")
    assert failures == [("broken", "x [[fake:context_length_exceeded]]", "context_length_exceeded")]
    assert query("select sum(answered), sum(truncated), sum(failed) from daily_spend") == [
        (3, 3, 1)
    ]
    assert query("select id, exit_code from runs") == [(1, 1), (2, 1)]


def test_report_counts_truncated_answers(write_job, invoke, fake_api):
    """`report --json` says how many answers were cut off at max_tokens."""
    job = write_job("j.yaml", "model: gpt-4o-mini\nparams: {max_tokens: 1}\nprompts: [a, b]\n")
    assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0
    assert '"truncated": 2' in invoke("report", "--json").output


def test_old_database_gets_truncated_counts_and_exit_codes(tmp_path):
    """Migrating an old file counts its truncated answers and fills finished runs' exit codes."""
    shutil.copy(OLD_DB, tmp_path / "batchbot.db")
    Store.open(tmp_path / "batchbot.db").close()
    assert query("select sum(answered), sum(truncated) from spend") == [(3, 1)]
    assert query("select status, exit_code from runs") == [("done", 0)]
    assert len(query("select * from answers")) == 3
