"""The views a user reaches for in sqlite3 or Datasette, and what m005_views fills in."""

from __future__ import annotations

import json
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


def test_the_answers_view_shows_the_prompt_as_text(
    tmp_path, write_job, invoke, fake_api, image_url
):
    """An image is `[image]`, not its data URL; the last user message is shown, a long one cut
    to 200 characters with an ellipsis; the request keeps every byte."""
    picture = image_url(512, 512) + "A" * 500_000  # a data URL half a megabyte long
    lines = [
        {"id": "photo", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image_url", "image_url": {"url": picture}},
        ]}]},
        {"id": "talk", "messages": [
            {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Bye!"},
        ]},
        {"id": "long", "messages": [{"role": "user", "content": "word " * 100}]},
    ]  # fmt: skip
    text = "".join(
        json.dumps({"model": "gpt-4o-mini", "max_tokens": 5, **line}) + "\n" for line in lines
    )
    job = write_job("j.jsonl", text)
    assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0
    prompts = dict(query("select item_id, prompt from answers"))
    assert prompts["photo"] == "What is in this picture? [image]"
    assert prompts["talk"] == "Bye"
    assert prompts["long"] == ("word " * 100)[:199] + "…"
    (length,) = query("select length(request) from requests where item_id = 'photo'")[0]
    assert length > 500_000


def test_the_answers_view_reads_responses_and_embeddings_prompts(write_job, invoke, fake_api):
    """A Responses input list and an embedding's text read the same way."""
    responses = write_job("r.jsonl", json.dumps({"id": "r", "model": "gpt-4.1", "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "Describe"},
                                     {"type": "input_image", "image_url": "https://x/cat.png"}]},
    ]}) + "\n")  # fmt: skip
    embeddings = write_job(
        "e.jsonl",
        json.dumps({"id": "e", "model": "text-embedding-3-small", "input": "a text"}) + "\n",
    )
    for job in (responses, embeddings):
        assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0
    assert dict(query("select item_id, prompt from answers")) == {
        "r": "Describe [image]",
        "e": "a text",
    }
