"""`batchbot doctor`: one line per check, exit 0 only when all pass, the key never shown."""

from __future__ import annotations

import re
import socket
import sqlite3

from batchbot.fake.server import FakeServer

KEY = "sk-doctor-secret-abcdef0123456789"


def test_all_good(tmp_path, invoke, fake_api):
    """Key set, database writable, API answering with its limits: four ok lines, exit 0."""
    result = invoke("doctor", "--base-url", fake_api.url, key=KEY)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["ok", "key"],
        ["ok", "database"],
        ["ok", "api"],
        ["ok", "limits"],
    ]
    assert re.search(r"limits +[\d,]+ requests/min, [\d,]+ tokens/min", lines[3])
    assert KEY not in result.output
    assert "abcdef" not in result.output
    assert fake_api.stats.requests == 1


def test_no_key_unreachable_and_read_only(tmp_path, invoke):
    """Each failing check is one FAIL line saying what to do; exit 1."""
    assert invoke("doctor", key=None).exit_code == 1
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = invoke("doctor", "--base-url", f"http://127.0.0.1:{port}/v1", key=KEY)
    assert result.exit_code == 1
    assert (
        f"FAIL  api       http://127.0.0.1:{port}/v1 refused the connection: nothing listens "
        "there. Check --base-url (or OPENAI_BASE_URL), or start the server"
    ) in result.output
    assert "timed out" not in result.output
    # A writer holding the database: doctor says it is not writable now.
    db = tmp_path / "busy.db"
    holder = sqlite3.connect(db)
    holder.execute("create table t (x)")
    holder.execute("begin immediate")
    try:
        result = invoke("doctor", "--db", str(db), key=None)
    finally:
        holder.close()
    assert "FAIL  database  " in result.output
    assert "FAIL  key " in result.output


def test_a_server_that_never_answers_is_a_timeout(invoke):
    """A port that takes the connection but never answers: a timeout, said as one, apart from
    a refused connection."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        result = invoke("doctor", "--base-url", url, "--timeout", "0.5", key=KEY)
    assert result.exit_code == 1
    assert (
        f"FAIL  api       {url} did not answer within 0.5 s: the server is slow, or the network "
        "drops the connection. Try again, or give it longer with --timeout"
    ) in result.output


def test_rejected_key_is_named_not_shown(invoke):
    """A wrong key: the API check fails with what to fix, and the key is not echoed."""
    server = FakeServer(api_key="sk-the-right-one-000000").start_in_thread()
    try:
        result = invoke("doctor", "--base-url", server.url, key=KEY)
    finally:
        server.stop()
    assert result.exit_code == 1
    assert "rejected the key" in result.output
    assert KEY not in result.output
    assert "doctor-secret" not in result.output


def test_fake_needs_no_key(invoke):
    """doctor --fake checks the simulated API with no key set: every line ok, exit 0."""
    result = invoke("doctor", "--fake", key=None)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        "ok    key       OPENAI_API_KEY is not set, and not needed: the simulated API (--fake) "
        "takes any key"
    )
    assert [line.split()[:2] for line in lines[1:]] == [
        ["ok", "database"],
        ["ok", "api"],
        ["ok", "limits"],
    ]


def test_a_server_on_this_machine_is_tried_without_a_key(invoke, fake_api):
    """No key and a local base URL (a running fake-server, a local model): the API is tried."""
    result = invoke("doctor", "--base-url", fake_api.url, key=None)
    assert result.exit_code == 0, result.output
    assert "answers; no key needed for gpt-4o-mini" in result.output
    assert fake_api.stats.requests == 1


def test_cancel_with_fake_needs_no_key(write_job, invoke):
    """cancel --fake runs with no key: a job with no batches has none to cancel."""
    job = write_job("job.yaml", "model: gpt-4o-mini\nmode: batch\nprompts: [one]\n")
    result = invoke("cancel", str(job), "--fake", key=None)
    assert result.exit_code == 0, result.output
    assert result.output == "job: no batch in progress to cancel.\n"
