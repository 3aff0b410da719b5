"""End to end: `batchbot run` against the fake API over 127.0.0.1 with the real openai client."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

FAQ = """\
name: support
model: gpt-4o-mini
system: You are a support assistant.
params: {temperature: 0.2, max_tokens: 200}
prompts:
  - What is a chatbot?
  - {id: key-safety, user: 'How do I keep my API key safe?'}
  - id: multi
    messages:
      - {role: user, content: Hi}
      - {role: assistant, content: Hello!}
      - {role: user, content: Bye}
"""


def rows(db: Path, sql: str, *params: object) -> list[dict[str, object]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(sql, params)]


def test_run_stores_one_row_per_prompt(tmp_path, write_job, invoke, fake_api):
    """A run answers every prompt and stores text, finish_reason, usage, latency and times."""
    job = write_job("support.yaml", FAQ)
    result = invoke("run", str(job), "--base-url", fake_api.url)
    assert result.exit_code == 0, result.output
    assert "support: 3 answered, 0 failed" in result.output
    stored = rows(tmp_path / "batchbot.db", "select * from requests order by id")
    assert len(stored) == 3
    assert {r["item_id"] for r in stored} >= {"key-safety", "multi"}
    for row in stored:
        assert row["status"] == "ok"
        assert row["finish_reason"] == "stop"
        assert row["content"]
        assert row["prompt_tokens"] > 0
        assert row["completion_tokens"] > 0
        assert row["total_tokens"] == row["prompt_tokens"] + row["completion_tokens"]
        assert row["cached_tokens"] == 0
        assert row["reasoning_tokens"] == 0
        assert row["latency_ms"] > 0
        assert row["attempts"] == 1
        assert row["mode"] == "sync"
        assert row["created_at"].endswith("+00:00")
        assert row["finished_at"] >= row["created_at"]
        body = json.loads(row["request"])
        assert body["messages"][0] == {"role": "system", "content": "You are a support assistant."}
        assert body["max_tokens"] == 200
    assert fake_api.stats.answered == 3
    (run,) = rows(tmp_path / "batchbot.db", "select * from runs")
    assert (run["status"], run["items"], run["ok"], run["failed"]) == ("done", 3, 3, 0)


def test_second_run_sends_nothing(write_job, invoke, fake_api):
    """Running the same job twice sends no request the second time and says so."""
    job = write_job("support.yaml", FAQ)
    assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0
    sent = fake_api.stats.requests
    again = invoke("run", str(job), "--base-url", fake_api.url)
    assert again.exit_code == 0
    assert fake_api.stats.requests == sent
    assert "nothing to send, all 3 items already answered" in again.output


def test_changed_prompt_sends_exactly_that_one(tmp_path, write_job, invoke, fake_api):
    """Editing one prompt re-sends only that prompt; the old answer stays in the history."""
    job = write_job("support.yaml", FAQ)
    assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0
    sent = fake_api.stats.requests
    job.write_text(FAQ.replace("How do I keep my API key safe?", "How do I rotate my API key?"))
    again = invoke("run", str(job), "--base-url", fake_api.url)
    assert again.exit_code == 0, again.output
    assert fake_api.stats.requests == sent + 1
    assert "1 answered, 0 failed, 2 already answered" in again.output
    versions = rows(tmp_path / "batchbot.db", "select * from requests where item_id='key-safety'")
    assert len(versions) == 2


def test_fake_flag_runs_without_key(tmp_path, write_job, invoke):
    """--fake starts the built-in simulated API: no key, no network, same rows."""
    job = write_job("support.yaml", FAQ)
    result = invoke("run", str(job), "--fake", key=None)
    assert result.exit_code == 0, result.output
    assert len(rows(tmp_path / "batchbot.db", "select * from requests where status='ok'")) == 3


@pytest.mark.parametrize(
    ("files", "job_name", "expected"),
    [
        pytest.param({"j.yaml": FAQ}, "j.yaml", 3, id="yaml-prompts"),
        pytest.param(
            {
                "t.yaml": "model: gpt-4o-mini\ntemplate: 'Answer: {q}'\ninputs: rows.csv\n",
                "rows.csv": "id,q\na,What is a token?\nb,What is a rate limit?\n",
            },
            "t.yaml",
            2,
            id="yaml-template-csv",
        ),
        pytest.param(
            {
                "t.yaml": "model: gpt-4o-mini\ntemplate: 'Answer: {q}'\ninputs: rows.jsonl\n",
                "rows.jsonl": '{"q": "What is a token?"}\n{"q": "Why 429?"}\n{"q": "Cost?"}\n',
            },
            "t.yaml",
            3,
            id="yaml-template-jsonl",
        ),
        pytest.param(
            {
                "p.jsonl": '{"id": "a", "model": "gpt-4o-mini", "messages": [{"role": "user", '
                '"content": "Hi"}]}\n{"model": "gpt-4o-mini", "max_tokens": 5, '
                '"messages": [{"role": "user", "content": "Yo"}]}\n'
            },
            "p.jsonl",
            2,
            id="jsonl-plain",
        ),
        pytest.param(
            {
                "b.jsonl": "".join(
                    json.dumps(
                        {
                            "custom_id": f"q{i}",
                            "method": "POST",
                            "url": "/v1/chat/completions",
                            "body": {
                                "model": "gpt-4o-mini",
                                "messages": [{"role": "user", "content": f"Question {i}"}],
                            },
                        }
                    )
                    + "\n"
                    for i in range(4)
                )
            },
            "b.jsonl",
            4,
            id="jsonl-batch-api",
        ),
    ],
)
def test_every_job_form_runs(tmp_path, write_job, invoke, fake_api, files, job_name, expected):
    """Every job format of docs/jobs.md runs end to end and stores one answered row per item."""
    for name, text in files.items():
        write_job(name, text)
    result = invoke("run", str(tmp_path / job_name), "--base-url", fake_api.url)
    assert result.exit_code == 0, result.output
    answered = rows(
        tmp_path / "batchbot.db", "select * from requests where status in ('ok', 'truncated')"
    )
    assert len(answered) == expected


def test_max_tokens_cut_is_recorded_as_truncated(tmp_path, write_job, invoke, fake_api):
    """finish_reason length is stored as status truncated with exactly max_tokens tokens."""
    job = write_job(
        "short.yaml",
        "model: gpt-4o-mini\nparams: {max_tokens: 3}\nprompts: [Tell me a long story]\n",
    )
    result = invoke("run", str(job), "--base-url", fake_api.url)
    assert result.exit_code == 0, result.output
    (row,) = rows(tmp_path / "batchbot.db", "select * from requests")
    assert (row["status"], row["finish_reason"], row["completion_tokens"]) == (
        "truncated",
        "length",
        3,
    )
    assert "cut off at max_tokens" in result.output


def _job_with_marker(write_job, marker: str) -> Path:
    return write_job(
        "faults.yaml",
        "model: gpt-4o-mini\nprompts:\n"
        "  - {id: good-1, user: First question}\n"
        f"  - {{id: bad, user: 'Break me [[fake:{marker}]]'}}\n"
        "  - {id: good-2, user: Second question}\n",
    )


# The error table of docs/troubleshooting.md ("Errors"): fault in, (exit code, status of the
# faulty item, its attempts, status codes recorded in `attempts`) out.
ERROR_TABLE = [
    ("500x2", 0, "ok", 3, [500, 500, 200]),
    ("502x1", 0, "ok", 2, [502, 200]),
    ("503x1", 0, "ok", 2, [503, 200]),
    ("resetx1", 0, "ok", 2, [None, 200]),
    ("malformedx1", 0, "ok", 2, [200, 200]),
    ("429x2", 0, "ok", 3, [429, 429, 200]),
    ("500x9", 1, "failed", 3, [500, 500, 500]),
    ("context_length_exceeded", 1, "failed", 1, [400]),
    ("401", 2, "pending", 1, [401]),
    ("403", 2, "pending", 1, [403]),
    ("insufficient_quota", 3, "pending", 1, [429]),
    ("model_not_found", 2, "pending", 1, [404]),
]


@pytest.mark.parametrize(("marker", "exit_code", "status", "attempts", "codes"), ERROR_TABLE)
def test_error_policy(
    tmp_path, write_job, invoke, fake_api, marker, exit_code, status, attempts, codes
):
    """Each row of the error table: retried or not, item and run outcome, every attempt recorded."""
    job = _job_with_marker(write_job, marker)
    result = invoke(
        "run", str(job), "--base-url", fake_api.url, "--max-attempts", "3", "--concurrency", "1"
    )
    assert result.exit_code == exit_code, result.output
    db = tmp_path / "batchbot.db"
    (bad,) = rows(db, "select * from requests where item_id='bad'")
    assert bad["status"] == status
    assert bad["attempts"] == attempts
    recorded = rows(
        db,
        "select a.status_code from attempts a join requests r on r.id = a.request_id"
        " where r.item_id='bad' order by a.number",
    )
    assert [r["status_code"] for r in recorded] == codes
    if status == "failed":
        assert bad["error"]
    if exit_code == 3:
        assert "rerun" in result.output or "Rerun" in result.output or "then rerun" in result.output
        assert "Traceback" not in result.output
    elif exit_code == 2:  # the key or the model must change first: a rerun alone cannot help
        assert "resume" not in result.output
        assert "rerun" not in result.output
        assert "Traceback" not in result.output
    else:
        good = rows(db, "select * from requests where item_id like 'good-%' and status='ok'")
        assert len(good) == 2


def test_run_fatal_stops_sending(tmp_path, write_job, invoke, fake_api):
    """After a 401 no new request is sent: the rest of the job stays unsent for the next run."""
    prompts = "".join(f"  - Question {i}\n" for i in range(20))
    job = write_job(
        "many.yaml", f"model: gpt-4o-mini\nprompts:\n  - 'Stop [[fake:401]]'\n{prompts}"
    )
    result = invoke("run", str(job), "--base-url", fake_api.url, "--concurrency", "1")
    assert result.exit_code == 2
    assert "rejected the key" in result.output
    assert fake_api.stats.requests < 5
    fake_api.reset()
    job.write_text(f"model: gpt-4o-mini\nprompts:\n{prompts}")
    resumed = invoke("run", str(job), "--base-url", fake_api.url)
    assert resumed.exit_code == 0
    assert (
        fake_api.stats.answered
        + len(
            rows(tmp_path / "batchbot.db", "select 1 from requests where status='ok' and run_id=1")
        )
        == 20
    )


def test_hang_is_cut_by_timeout(tmp_path, write_job, invoke, fake_api):
    """A request that never answers is abandoned after --timeout and retried, then fails alone."""
    job = _job_with_marker(write_job, "hang")
    result = invoke(
        "run", str(job), "--base-url", fake_api.url, "--timeout", "0.3", "--max-attempts", "2"
    )
    assert result.exit_code == 1, result.output
    (bad,) = rows(tmp_path / "batchbot.db", "select * from requests where item_id='bad'")
    assert (bad["status"], bad["attempts"], bad["error_code"]) == ("failed", 2, "APITimeoutError")


def test_no_key_is_one_friendly_line(tmp_path, write_job, invoke):
    """Without a key and without --fake: exit 2, one line saying what to do, no database."""
    job = write_job("support.yaml", FAQ)
    result = invoke("run", str(job), key=None)
    assert result.exit_code == 2
    for hint in ("OPENAI_API_KEY", "--fake", "--dry-run"):
        assert hint in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "batchbot.db").exists()


def test_a_server_on_this_machine_needs_no_key(tmp_path, write_job, invoke, fake_api):
    """A base URL on this machine (a fake-server, a local model server) runs with no key set,
    as docs/structured-outputs.md tries the re-asks; a remote one still wants one."""
    job = write_job("support.yaml", FAQ)
    result = invoke("run", str(job), "--base-url", fake_api.url, key=None)
    assert result.exit_code == 0, result.output
    assert fake_api.stats.answered > 0
    remote = invoke("run", str(job), "--base-url", "https://gateway.example.com/v1", key=None)
    assert remote.exit_code == 2
    assert "No OpenAI API key" in remote.output


def test_key_from_dotenv(tmp_path, write_job, invoke, fake_api):
    """A key in ./.env is used when the environment has none."""
    (tmp_path / ".env").write_text("OPENAI_API_KEY=sk-from-dotenv\n")
    job = write_job("support.yaml", FAQ)
    result = invoke("run", str(job), "--base-url", fake_api.url, key=None)
    assert result.exit_code == 0, result.output


def test_bad_job_sends_and_writes_nothing(tmp_path, write_job, invoke, fake_api):
    """A broken line anywhere in the job stops the run before the first request."""
    job = write_job(
        "broken.jsonl",
        '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "ok"}]}\n'
        '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "ok too"}]\n',
    )
    result = invoke("run", str(job), "--base-url", fake_api.url)
    assert result.exit_code == 2
    assert "broken.jsonl:2" in result.output
    assert fake_api.stats.requests == 0
    assert not (tmp_path / "batchbot.db").exists()


def test_key_never_stored_or_printed(tmp_path, write_job, invoke, fake_api):
    """A planted key appears nowhere: not in output, rows, settings or error texts."""
    planted = "sk-PLANTED-secret-0123456789abcdef"
    job = write_job("faults.yaml", "model: gpt-4o-mini\nprompts: ['ok', 'no [[fake:401]]']\n")
    result = invoke("run", str(job), "--base-url", fake_api.url, "--verbose", key=planted)
    assert result.exit_code == 2
    assert planted not in result.output
    dump = "\n".join(sqlite3.connect(tmp_path / "batchbot.db").iterdump())
    assert planted not in dump
    assert "PLANTED" not in dump


def test_db_option_and_env(tmp_path, write_job, invoke, fake_api, monkeypatch):
    """--db and BATCHBOT_DB choose the database file."""
    job = write_job("support.yaml", FAQ)
    assert invoke("run", str(job), "--base-url", fake_api.url, "--db", "a.db").exit_code == 0
    monkeypatch.setenv("BATCHBOT_DB", str(tmp_path / "b.db"))
    assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0
    assert len(rows(tmp_path / "a.db", "select * from requests")) == 3
    assert len(rows(tmp_path / "b.db", "select * from requests")) == 3


def test_dry_run_counts_and_sends_nothing(tmp_path, write_job, invoke, fake_api):
    """--dry-run needs no key, sends nothing, and counts prompt tokens exactly as a run would."""
    job = write_job("support.yaml", FAQ)
    dry = invoke("run", str(job), "--dry-run", "--rpm", "60", key=None)
    assert dry.exit_code == 0, dry.output
    assert "3 items, 0 already answered, 3 to send" in dry.output
    assert "completion allowance: 600" in dry.output
    assert fake_api.stats.requests == 0
    assert not (tmp_path / "batchbot.db").exists()

    assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0
    (sent,) = rows(tmp_path / "batchbot.db", "select sum(prompt_tokens) as n from requests")
    fresh = invoke("run", str(job), "--dry-run", "--db", "fresh.db", key=None)
    assert f"prompt tokens:        {sent['n']:,}" in fresh.output
    again = invoke("run", str(job), "--dry-run", key=None)
    assert "3 already answered, 0 to send" in again.output
    job.write_text(FAQ.replace("Bye", "See you"))
    changed = invoke("run", str(job), "--dry-run", key=None)
    assert "2 already answered, 1 to send" in changed.output


def test_base_url_from_environment(tmp_path, write_job, invoke, fake_api, monkeypatch):
    """OPENAI_BASE_URL points the run at any OpenAI-compatible server, like --base-url."""
    monkeypatch.setenv("OPENAI_BASE_URL", fake_api.url)
    job = write_job("support.yaml", FAQ)
    result = invoke("run", str(job))
    assert result.exit_code == 0, result.output
    assert fake_api.stats.answered == 3


def test_a_big_job_says_it_is_being_checked(tmp_path, write_job, invoke, fake_api, monkeypatch):
    """While a big job is checked, the progress output says so, before it starts sending."""
    monkeypatch.setattr("batchbot.jobs.job.CHECKED_EVERY", 10)
    lines = [json.dumps({"messages": [{"role": "user", "content": f"q{i}"}]}) for i in range(25)]
    job = write_job("big.jsonl", "\n".join(lines))
    result = invoke("run", str(job), "--model", "gpt-4o-mini", "--base-url", fake_api.url)
    assert result.exit_code == 0, result.output
    output = result.output.splitlines()
    assert output[:2] == [
        "big: checking the job file, 10 items so far; nothing sent yet",  # then 10 s apart
        "big: 25 items",
    ]


@pytest.mark.parametrize(
    "url", ["notaurl", "http://[::1", "http://127.0.0.1:99999/v1", "ftp://host/v1", "http:///v1"]
)
def test_bad_base_url_is_one_line_before_anything(tmp_path, write_job, invoke, url):
    """A base URL no client could use is a usage error up front, not a hang or a traceback."""
    job = write_job("job.yaml", "model: gpt-4o-mini\nprompts: [one]\n")
    for command in (["run", str(job), "--base-url", url], ["doctor", "--base-url", url]):
        result = invoke(*command)
        assert result.exit_code == 2, result.output
        assert result.output.startswith(f"Error: base URL {url!r} is not an http(s) URL")
        assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "batchbot.db").exists()


SECRET = "sk-proj-hunter2hunter2"
CREDENTIALED = {
    "user and password": (f"http://user:{SECRET}@127.0.0.1:9/v1", "http://***@127.0.0.1:9/v1"),
    "password only": (f"https://:{SECRET}@api.example.com/v1", "https://***@api.example.com/v1"),
    "user only": (f"https://{SECRET}@api.example.com/v1", "https://***@api.example.com/v1"),
}


def _files_holding(directory: Path, secret: str) -> list[str]:
    return [
        str(path)
        for path in directory.rglob("*")
        if path.is_file() and secret.encode() in path.read_bytes()
    ]


@pytest.mark.parametrize(("url", "shown"), CREDENTIALED.values(), ids=CREDENTIALED.keys())
@pytest.mark.parametrize("given_as", ["--base-url", "OPENAI_BASE_URL", "--azure-endpoint"])
def test_a_url_with_credentials_is_refused_before_sending(
    tmp_path, write_job, invoke, monkeypatch, url, shown, given_as
):
    """A user name or password in the URL: exit 2, the URL shown masked, nothing on disk."""
    job = write_job("job.yaml", "model: gpt-4o-mini\nprompts: [one]\n")
    args = ["run", str(job), "--log-file", "run.log"]
    if given_as.startswith("--"):
        args += [given_as, url]
    else:
        monkeypatch.setenv(given_as, url)
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert result.output == (
        f"Error: base URL {shown!r} has a user name or password in it: remove them and give "
        "the key as OPENAI_API_KEY (or AZURE_OPENAI_API_KEY), which is sent in a header and "
        "never stored. Nothing was sent.\n"
    )
    assert not (tmp_path / "batchbot.db").exists()
    assert _files_holding(tmp_path, SECRET) == []


def test_a_credentialed_url_beside_fake_is_neither_used_nor_kept(tmp_path, write_job, invoke):
    """--fake uses no base URL, so a credentialed one is dropped, not stored with the run."""
    job = write_job("job.yaml", "model: gpt-4o-mini\nprompts: [one]\n")
    url = CREDENTIALED["user and password"][0]
    result = invoke("run", str(job), "--fake", "--base-url", url, "--log-file", "run.log")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "batchbot.db").exists()
    assert _files_holding(tmp_path, SECRET) == []


def test_fake_ignores_the_base_url_it_does_not_use(write_job, invoke, monkeypatch):
    """--fake serves its own API, so a leftover OPENAI_BASE_URL does not stop it."""
    monkeypatch.setenv("OPENAI_BASE_URL", "notaurl")
    job = write_job("job.yaml", "model: gpt-4o-mini\nprompts: [one]\n")
    assert invoke("run", str(job), "--fake").exit_code == 0


def test_a_parameter_the_api_refuses_fails_its_item_with_the_api_words(
    tmp_path, write_job, invoke, fake_api
):
    """A temperature a reasoning model does not take is a 400 from the API: that item fails
    at once with the API's message (once, without the client's "Error code" prefix) and the
    others are answered."""
    job = write_job(
        "job.yaml",
        "model: o3-mini\nprompts:\n  - {id: hot, user: hi, params: {temperature: 0.5}}\n"
        "  - {id: fine, user: hi}\n",
    )
    result = invoke("run", str(job), "--base-url", fake_api.url)
    assert result.exit_code == 1, result.output
    fine, hot = rows(tmp_path / "batchbot.db", "select * from requests order by item_id")
    assert (hot["status"], hot["attempts"], fine["status"]) == ("failed", 1, "ok")
    assert hot["error"] == (
        "400: Unsupported value: 'temperature' does not support 0.5 with this model. "
        "Only the default (1) value is supported."
    )
    assert hot["error_code"] == "unsupported_value"


def test_closing_line_of_the_example_job_fits_80_columns(invoke, fake_api):
    """The quick start's closing line fits a terminal or a cron mail of 80 columns."""
    example = Path(__file__).resolve().parents[2] / "jobs" / "faq.yaml"
    result = invoke("run", str(example), "--base-url", fake_api.url)
    assert result.exit_code == 0, result.output
    (closing,) = [line for line in result.output.splitlines() if " answered" in line]
    assert closing.startswith("faq: 26 answered, 0 failed")
    assert closing.endswith("· run 1")
    assert len(closing) <= 80, closing


def test_closing_line_names_a_database_other_than_the_default(write_job, invoke, fake_api):
    """A run into another database says which one, so its rows can be found."""
    job = write_job("support.yaml", FAQ)
    result = invoke("run", str(job), "--base-url", fake_api.url, "--db", "other.db")
    assert result.exit_code == 0, result.output
    assert "· run 1 in other.db" in result.output
