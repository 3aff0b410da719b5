"""One run per job: a second run of the same job exits 4 or waits; other jobs run beside it."""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from children import child_env
from sqlite_utils import Database

from batchbot.errors import EXIT_LOCKED
from batchbot.fake.server import FakeServer
from batchbot.run.lock import if_free, job_lock, lock_path
from batchbot.store.migrations import migrations
from batchbot.store.store import Store
from batchbot.store.transactions import write_transaction

JOB = "model: gpt-4o-mini\nprompts: [one, two, three]\n"


def test_second_run_of_same_job_exits_4(tmp_path, write_job, invoke, fake_api):
    """While the job's lock is held, a run exits 4 at once, says what to do and sends nothing."""
    job = write_job("faq.yaml", JOB)
    with job_lock(tmp_path / "batchbot.db", "faq"):
        started = time.monotonic()
        result = invoke("run", str(job), "--base-url", fake_api.url)
    assert result.exit_code == EXIT_LOCKED == 4
    assert time.monotonic() - started < 5
    assert "another batchbot run of job 'faq'" in result.output
    assert "--wait-lock" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert fake_api.stats.requests == 0


def test_wait_lock_waits_for_the_other_run(tmp_path, write_job, invoke, fake_api):
    """--wait-lock waits until the lock is released, then runs normally."""
    job = write_job("faq.yaml", JOB)
    held, release = threading.Event(), threading.Event()

    def other_run() -> None:
        with job_lock(tmp_path / "batchbot.db", "faq"):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=other_run)
    thread.start()
    held.wait(5)
    threading.Timer(0.5, release.set).start()
    started = time.monotonic()
    result = invoke("run", str(job), "--base-url", fake_api.url, "--wait-lock")
    thread.join()
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started >= 0.4
    assert fake_api.stats.answered == 3


def test_other_job_is_not_blocked(tmp_path, write_job, invoke, fake_api):
    """The lock is per job: another job on the same database runs while the first is locked."""
    job = write_job("labels.yaml", JOB)
    with job_lock(tmp_path / "batchbot.db", "faq"):
        assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0


@pytest.mark.parametrize(
    ("job", "name"),
    [
        ("faq", "batchbot.db.faq.lock"),
        ("a/b c", "batchbot.db.a_b_c-"),
        ("x" * 200, "batchbot.db." + "x" * 60 + "-"),
    ],
)
def test_lock_file_sits_beside_the_database(tmp_path, job, name):
    """The lock file is next to the database; odd or long job names stay one safe file name."""
    path = lock_path(tmp_path / "batchbot.db", job)
    assert path.parent == tmp_path
    assert path.name.startswith(name)
    assert not set(path.name) & {"/", " "}


# -- real processes -----------------------------------------------------------------------


@pytest.fixture
def slow_api() -> Iterator[FakeServer]:
    server = FakeServer(latency_ms=100).start_in_thread()
    yield server
    server.stop()


def start_run(job: Path, url: str, cwd: Path, *extra: str) -> subprocess.Popen[str]:
    env = child_env()
    argv = [sys.executable, "-m", "batchbot", "run", str(job), "--base-url", url]
    argv += ["--concurrency", "8", "--rpm", "100000", "--tpm", "100000000", "--quiet", *extra]
    return subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@contextlib.contextmanager
def held_still(process: subprocess.Popen[str]) -> Iterator[None]:
    """Stop `process` (SIGSTOP) for the block: its run, lock held, is surely still going when
    the next run starts, however long a busy machine takes to start that one."""
    process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        process.send_signal(signal.SIGCONT)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` for up to 30 s; fail saying `what` never happened."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"{what} within 30 s"
        time.sleep(0.01)


def lock_is_free(db: Path, job: str) -> bool:
    """Whether no process holds the job's lock (taking it for an instant to learn so)."""
    with if_free(db, job) as free:
        return free


def test_jobs_side_by_side_and_an_overlapping_run(tmp_path, slow_api):
    """Two jobs share a new database without "database is locked"; an overlapping run exits 4."""
    items = 100
    for name in ("faq", "labels"):
        prompts = "".join(f"  - {name} question {i}?\n" for i in range(items))
        (tmp_path / f"{name}.yaml").write_text(f"model: gpt-4o-mini\nprompts:\n{prompts}")
    # Two at a time, so the first run is still going when the overlapping one starts.
    first = start_run(tmp_path / "faq.yaml", slow_api.url, tmp_path, "--concurrency", "2")
    second = start_run(tmp_path / "labels.yaml", slow_api.url, tmp_path)
    wait_until(lambda: not lock_is_free(tmp_path / "batchbot.db", "faq"), "faq's run took no lock")
    with held_still(first):
        assert first.poll() is None, "the first run ended before it could be held"
        overlap = start_run(tmp_path / "faq.yaml", slow_api.url, tmp_path)
        out, err = overlap.communicate(timeout=60)
    assert overlap.returncode == 4, out + err
    assert "another batchbot run of job 'faq'" in err
    for proc in (first, second):
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, out + err
        assert (out, err) == ("", "")  # --quiet: nothing on success
    with sqlite3.connect(tmp_path / "batchbot.db") as conn:
        counts = dict(conn.execute("select job, count(*) from requests group by job").fetchall())
        assert conn.execute("pragma integrity_check").fetchone() == ("ok",)
    assert counts == {"faq": items, "labels": items}
    assert slow_api.stats.duplicates == 0


def _open_and_write(path: Path, job: str, start: Any, writes: int) -> str | None:
    start.wait()
    try:
        store = Store.open(path)
        for _ in range(writes):
            run = store.start_run(job=job, job_path="x.yaml", mode="sync", settings={})
            store.finish_run(run, status="done", totals={"items": 1})
        store.close()
    except Exception as error:  # returned, so the parent names every process that failed
        return f"{job}: {type(error).__name__}: {error}"
    return None


@pytest.mark.parametrize("attempt", range(3))
def test_runs_opening_a_new_database_at_once(tmp_path, attempt):
    """Processes that create, migrate and write one new database together all succeed."""
    workers, writes = 4, 30
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        start = manager.Barrier(workers)
        with context.Pool(workers) as pool:
            args = [(tmp_path / "batchbot.db", f"job{n}", start, writes) for n in range(workers)]
            errors = [e for e in pool.starmap(_open_and_write, args) if e]
    assert errors == []
    with sqlite3.connect(tmp_path / "batchbot.db") as conn:
        assert conn.execute("select count(*) from runs").fetchone() == (workers * writes,)
        applied = conn.execute("select name from _sqlite_migrations").fetchall()
    assert len(applied) == len(set(applied)) == len(migrations.pending(Database(memory=True)))


def _hold_write_lock(db: Path) -> sqlite3.Connection:
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_database_held_by_another_program_before_the_run(
    tmp_path, write_job, invoke, fake_api, monkeypatch
):
    """A write lock held elsewhere past the wait: exit 3 with what to do, and nothing sent."""
    monkeypatch.setattr("batchbot.store.store.BUSY_TIMEOUT_MS", 300)
    job = write_job("faq.yaml", JOB)
    Store.open(tmp_path / "batchbot.db").close()
    holder = _hold_write_lock(tmp_path / "batchbot.db")
    result = invoke("run", str(job), "--base-url", fake_api.url)
    assert result.exit_code == 3, result.output
    assert "batchbot.db stayed locked by another program for 0.3 s" in result.output
    assert "close it and run again" in result.output
    assert fake_api.stats.requests == 0
    holder.rollback()
    assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0
    assert fake_api.stats.answered == 3


def test_database_held_by_another_program_during_the_run(
    tmp_path, write_job, invoke, slow_api, monkeypatch
):
    """A lock taken mid-run stops it with exit 3; what was saved stays, a rerun does the rest."""
    monkeypatch.setattr("batchbot.store.store.BUSY_TIMEOUT_MS", 300)
    job = write_job("faq.yaml", "model: gpt-4o-mini\nprompts: [a, b, c, d, e, f]\n")
    held: list[sqlite3.Connection] = []

    def take_lock_after_two_answers() -> None:
        while slow_api.stats.answered < 2:
            time.sleep(0.005)
        held.append(_hold_write_lock(tmp_path / "batchbot.db"))

    thread = threading.Thread(target=take_lock_after_two_answers)
    thread.start()
    result = invoke("run", str(job), "--base-url", slow_api.url, "--concurrency", "1")
    thread.join()
    assert result.exit_code == 3, result.output
    assert "stayed locked by another program" in result.output
    held[0].rollback()
    with sqlite3.connect(tmp_path / "batchbot.db") as conn:
        (saved,) = conn.execute("select count(*) from requests where status = 'ok'").fetchone()
    assert 1 <= saved < 6
    assert invoke("run", str(job), "--base-url", slow_api.url).exit_code == 0
    assert slow_api.stats.answered - 6 <= 2  # at most the requests caught by the lock again


def test_a_failed_commit_leaves_no_transaction_open(tmp_path):
    """A COMMIT that fails (here a deferred foreign key) is rolled back, so the next write works."""
    db = Database(tmp_path / "t.db")
    db.execute("PRAGMA foreign_keys = ON")
    db.executescript(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
        "CREATE TABLE child (parent INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);"
    )
    with pytest.raises(sqlite3.IntegrityError), write_transaction(db):
        db.execute("INSERT INTO child VALUES (1)")
    assert not db.conn.in_transaction
    with write_transaction(db):
        db.execute("INSERT INTO parent VALUES (1)")
        db.execute("INSERT INTO child VALUES (1)")
    assert db.execute("SELECT count(*) FROM child").fetchone() == (1,)


# -- one lock per database file, whatever the path's spelling ----------------------------------


def _spell(tmp_path: Path, spelling: str) -> str:
    """`spelling` of tmp_path/data/c.db: another path to the same database file."""
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    if spelling == "symlink":
        (tmp_path / "link.db").symlink_to(data / "c.db")
        return "link.db"
    if spelling == "symlinked directory":
        (tmp_path / "alias").symlink_to(data, target_is_directory=True)
        return "alias/c.db"
    if spelling == "relative":
        return "./data/c.db"
    if spelling == "dot-dot":
        (tmp_path / "other").mkdir()
        return "other/../data/c.db"
    return str(data / "c.db")  # absolute


SPELLINGS = ["symlink", "symlinked directory", "relative", "dot-dot", "absolute"]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_the_lock_follows_the_database_file(tmp_path, write_job, invoke, fake_api, spelling):
    """A run given the database by another path meets the lock of the run holding the file."""
    job = write_job("faq.yaml", JOB)
    other = _spell(tmp_path, spelling)
    with job_lock(tmp_path / "data" / "c.db", "faq"):
        result = invoke("run", str(job), "--base-url", fake_api.url, "--db", other)
    assert result.exit_code == EXIT_LOCKED, result.output
    assert fake_api.stats.requests == 0
    assert lock_path(Path(other), "faq") == lock_path(tmp_path / "data" / "c.db", "faq")


def test_two_runs_through_a_symlinked_database(tmp_path, slow_api):
    """A run through a symlink to the database of a run going exits 4; nothing is paid twice."""
    items = 100  # over a second of answers: the first run is stopped while it sends them
    prompts = "".join(f"  - question {i}?\n" for i in range(items))
    (tmp_path / "faq.yaml").write_text(f"model: gpt-4o-mini\nprompts:\n{prompts}")
    (tmp_path / "link.db").symlink_to(tmp_path / "c.db")
    first = start_run(tmp_path / "faq.yaml", slow_api.url, tmp_path, "--db", "c.db")
    wait_until(lambda: slow_api.stats.requests > 0, "the first run sent nothing")
    with held_still(first):
        assert first.poll() is None, "the first run ended before it could be held"
        second = start_run(tmp_path / "faq.yaml", slow_api.url, tmp_path, "--db", "link.db")
        out, err = second.communicate(timeout=60)
    assert second.returncode == EXIT_LOCKED, out + err
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, out + err
    assert slow_api.stats.answered == items
    assert slow_api.stats.duplicates == 0


def _can_mount_in_a_namespace() -> bool:
    try:
        probe = ["unshare", "--map-root-user", "--mount", "true"]
        return subprocess.run(probe, capture_output=True, check=False).returncode == 0
    except OSError:
        return False


@pytest.mark.skipif(
    not _can_mount_in_a_namespace(), reason="needs unshare with user namespaces (see .ci/run)"
)
def test_a_second_mount_meets_the_same_lock(tmp_path, write_job):
    """A run that sees the database's directory through a bind mount elsewhere exits 4."""
    data, mount = tmp_path / "data", tmp_path / "mnt"
    data.mkdir()
    mount.mkdir()
    (data / "faq.yaml").write_text(JOB)
    run = f"{sys.executable} -m batchbot run {mount}/faq.yaml --db {mount}/c.db"
    script = f"mount --bind {data} {mount} && exec {run} --base-url http://127.0.0.1:9/v1"
    env = child_env()
    with job_lock(data / "c.db", "faq"):
        result = subprocess.run(
            ["unshare", "--map-root-user", "--mount", "sh", "-c", script],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
    assert result.returncode == EXIT_LOCKED, result.stdout + result.stderr
    assert "another batchbot run of job 'faq'" in result.stderr
