"""The environment is read in one place (batchbot.environment), the same way by every
command: the process's variables over ./.env's, a flag over both."""

from __future__ import annotations

import ast
import json
import sqlite3
from pathlib import Path

import pytest

import batchbot

PACKAGE = Path(batchbot.__file__).parent
JOB = "name: env\nmodel: gpt-4o-mini\nprompts: [one, two]\n"


def test_only_the_environment_module_reads_the_environment():
    """No module but batchbot/environment.py touches os.environ or gives click an envvar=."""
    readers = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "environment.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
                readers.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
            if isinstance(node, ast.keyword) and node.arg == "envvar":
                readers.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert readers == []


@pytest.mark.parametrize("where", ["process", ".env"])
def test_every_command_finds_the_same_database(tmp_path, write_job, invoke, monkeypatch, where):
    """BATCHBOT_DB names the database for run, runs, report and batches alike, set in the
    process or in .env; --db wins over it."""
    if where == "process":
        monkeypatch.setenv("BATCHBOT_DB", "chosen.db")
    else:
        (tmp_path / ".env").write_text("BATCHBOT_DB=chosen.db\n", encoding="utf-8")
    job = write_job("env.yaml", JOB)
    assert invoke("run", str(job), "--fake", "-q").exit_code == 0
    assert (tmp_path / "chosen.db").exists()
    assert not (tmp_path / "batchbot.db").exists()
    runs = invoke("runs", "--json")
    assert runs.exit_code == 0
    assert [run["job"] for run in json.loads(runs.output)] == ["env"]
    report = invoke("report", "--json")
    assert [row["requests"] for row in json.loads(report.output)] == [2]
    assert invoke("batches").exit_code == 0
    elsewhere = invoke("runs", "--db", "other.db")
    assert elsewhere.exit_code == 2
    assert "no database at other.db" in elsewhere.output


def test_log_file_and_base_url_from_the_environment(
    tmp_path, write_job, invoke, fake_api, monkeypatch
):
    """BATCHBOT_LOG_FILE and OPENAI_BASE_URL stand for --log-file and --base-url."""
    monkeypatch.setenv("BATCHBOT_LOG_FILE", str(tmp_path / "run.log"))
    monkeypatch.setenv("OPENAI_BASE_URL", fake_api.url)
    job = write_job("env.yaml", JOB)
    assert invoke("run", str(job), "-q").exit_code == 0
    assert fake_api.stats.answered == 2
    assert "env" in (tmp_path / "run.log").read_text(encoding="utf-8")
    with sqlite3.connect(tmp_path / "batchbot.db") as db:
        ((base_url,),) = db.execute("select json_extract(settings, '$.base_url') from runs")
    assert base_url == fake_api.url
