"""A database written by an older batchbot is migrated in place on open and keeps its answers.

tests/data/batchbot-m001.db was written by `batchbot run tests/data/m001-job.yaml --fake` when
m001_initial was the only migration. Never regenerate it: it stands for users' old files.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from sqlite_utils import Database

from batchbot.store.migrations import migrations
from batchbot.store.read import LATEST_MIGRATION, list_batches, reading
from batchbot.store.store import Store

DATA = Path(__file__).parents[1] / "data"
OLD_DB = DATA / "batchbot-m001.db"


def schema(db: Path) -> dict[str, list[tuple[str, str]]]:
    """Every table's columns with their types, and every index, by name."""
    with sqlite3.connect(db) as conn:
        names = [r[0] for r in conn.execute("select name from sqlite_master where type='table'")]
        tables = {
            n: [(c[1], c[2]) for c in conn.execute(f"pragma table_info([{n}])")] for n in names
        }
        indexes = conn.execute("select name, tbl_name from sqlite_master where type='index'")
        return {**tables, "indexes": sorted(indexes.fetchall())}


def test_old_database_is_migrated_in_place(tmp_path):
    """Opening the old file applies every newer migration; it then has a fresh file's schema."""
    db = tmp_path / "batchbot.db"
    shutil.copy(OLD_DB, db)
    Store.open(db).close()
    with sqlite3.connect(db) as conn:
        applied = [r[0] for r in conn.execute("select name from _sqlite_migrations order by id")]
        assert conn.execute("pragma integrity_check").fetchone() == ("ok",)
    assert applied == [m.name for m in migrations.pending(Database(memory=True))]
    Store.open(tmp_path / "fresh.db").close()
    assert schema(db) == schema(tmp_path / "fresh.db")


def test_old_answers_are_kept_and_not_asked_again(tmp_path, invoke, fake_api):
    """The old file's answers survive the upgrade, and the same job sends nothing."""
    shutil.copy(OLD_DB, tmp_path / "batchbot.db")
    shutil.copy(DATA / "m001-job.yaml", tmp_path / "job.yaml")
    result = invoke("run", "job.yaml", "--base-url", fake_api.url)
    assert result.exit_code == 0, result.output
    assert "nothing to send, all 3 items already answered" in result.output
    assert fake_api.stats.requests == 0
    with sqlite3.connect(tmp_path / "batchbot.db") as conn:
        rows = conn.execute("select item_id, status, run_id from requests order by item_id")
        assert rows.fetchall() == [
            ("3b9c505e239d2c66", "truncated", 1),
            ("key-safety", "ok", 1),
            ("rotate", "ok", 1),
        ]
        runs = conn.execute("select id, status from runs order by id").fetchall()
    assert runs == [(1, "done"), (2, "done")]


def test_a_reader_migrates_an_old_file_first(tmp_path):
    """open_reader brings an old file up to the latest migration before it hands it out."""
    db = tmp_path / "batchbot.db"
    shutil.copy(OLD_DB, db)
    with reading(db) as conn:
        batches = list_batches(conn)
        applied = [r[0] for r in conn.execute("select name from _sqlite_migrations order by id")]
    assert batches == []
    assert applied[-1] == LATEST_MIGRATION


def test_latest_migration_is_the_last_one_defined():
    """The readers' notion of "migrated" names the newest migration there is."""
    assert migrations.pending(Database(memory=True))[-1].name == LATEST_MIGRATION


def test_old_answers_read_through_the_new_columns_and_views(tmp_path, invoke):
    """Rows from before whole answers were kept read as plain answers: no tool calls, no
    re-asks, counted in the new report columns as none; their export has the new fields."""
    db = tmp_path / "batchbot.db"
    shutil.copy(OLD_DB, db)
    Store.open(db).close()
    with sqlite3.connect(db) as conn:
        view = conn.execute(
            "select item_id, answer is not null, parsed, refusal, reasks from answers order by 1"
        ).fetchall()
        assert view == [
            ("3b9c505e239d2c66", 1, None, None, 0),
            ("key-safety", 1, None, None, 0),
            ("rotate", 1, None, None, 0),
        ]
        spend = conn.execute("select sum(invalid), sum(refused), sum(reasks) from spend")
        assert spend.fetchone() == (0, 0, 0)
    report = invoke("report", "--json")
    (total,) = json.loads(report.output)
    assert (total["requests"], total["invalid"], total["reasks"]) == (3, 0, 0)


def test_old_rows_count_their_http_requests_and_show_their_prompts(tmp_path, invoke):
    """Rows from before HTTP requests were counted count one per attempt (in the rollup too),
    and the answers view shows their prompts as text."""
    db = tmp_path / "batchbot.db"
    shutil.copy(OLD_DB, db)
    Store.open(db).close()
    with sqlite3.connect(db) as conn:
        attempts, counted = conn.execute(
            "select sum(attempts), sum(http_requests) from requests"
        ).fetchone()
        (rolled_up,) = conn.execute("select sum(http_requests) from spend").fetchone()
        prompts = conn.execute("select prompt from answers order by item_id").fetchall()
    assert attempts == counted == rolled_up > 0
    assert all(isinstance(prompt, str) and not prompt.startswith("[") for (prompt,) in prompts)
    (total,) = json.loads(invoke("report", "--json").output)
    assert total["http_requests"] == attempts
