"""The docs' cron and systemd recipes, run as written against the fake API.

The commands are read from the markdown itself, so a recipe that changes is tested as changed.
Only the project folder (/srv/faq) is swapped for a temporary one, with the example job and a
`.venv/bin/batchbot` that is this installation's.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "/srv/faq"
ITEMS = 26  # prompts in jobs/faq.yaml
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]


def fenced_blocks(language: str) -> list[str]:
    """Every ```language block of the README and the docs pages."""
    pattern = rf"^```{language}\n(.*?)^```"
    return [b for doc in DOCS for b in re.findall(pattern, doc.read_text(), re.M | re.S)]


def cron_commands() -> list[str]:
    """The command of each crontab line (the five time fields dropped)."""
    lines = [line for block in fenced_blocks("cron") for line in block.splitlines()]
    return [line.split(None, 5)[5] for line in lines if line.strip() and line[0] != "#"]


def systemd_service() -> dict[str, str]:
    """The [Service] settings of the documented unit file."""
    (block,) = [b for b in fenced_blocks("ini") if "[Service]" in b]
    section = block.split("[Service]", 1)[1].split("\n[", 1)[0]
    pairs = [line.split("=", 1) for line in section.splitlines() if "=" in line and line[0] != "#"]
    return {key: value for key, value in pairs}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the example project where the recipes expect it, with batchbot in .venv/bin."""
    root = tmp_path / "srv-faq"
    shutil.copytree(ROOT / "jobs", root / "jobs")
    (root / ".venv" / "bin").mkdir(parents=True)
    (root / ".venv" / "bin" / "batchbot").symlink_to(Path(sys.executable).parent / "batchbot")
    return root


def test_the_docs_have_the_recipes() -> None:
    """The nightly cron line logs to a file in a folder, and a systemd unit exists."""
    assert any("--log-file logs/" in command for command in cron_commands())
    assert "--log-file logs/" in systemd_service()["ExecStart"]


@pytest.mark.parametrize("command", cron_commands())
def test_cron_line_as_written(project: Path, fake_api, command: str) -> None:
    """Each documented crontab command runs in a fresh project: exit 0, no mail, a log."""
    env = {"PATH": "/usr/bin:/bin", "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake_api.url}
    done = subprocess.run(
        ["sh", "-c", command.replace(PROJECT, str(project))],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == done.stderr == ""  # cron mails nothing when all went well
    with sqlite3.connect(project / "batchbot.db") as db:
        assert db.execute("select count(*) from requests").fetchone()[0] == ITEMS
    log_file = re.search(r"--log-file (\S+)", command)
    if log_file:
        assert "(exit 0)" in (project / log_file.group(1)).read_text()


def test_systemd_service_as_written(project: Path, fake_api) -> None:
    """The unit's ExecStart, run as systemd would (its folder, its EnvironmentFile): a JSON log."""
    service = {k: v.replace(PROJECT, str(project)) for k, v in systemd_service().items()}
    env_file = Path(service["EnvironmentFile"])
    env_file.write_text(f"OPENAI_API_KEY=sk-test\nOPENAI_BASE_URL={fake_api.url}\n")
    env = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    done = subprocess.run(
        shlex.split(service["ExecStart"]),
        cwd=service["WorkingDirectory"], env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode in {0, *map(int, service["SuccessExitStatus"].split())}, done.stderr
    assert done.stdout == done.stderr == ""
    (log_file,) = re.findall(r"--log-file (\S+)", service["ExecStart"])
    log = (Path(service["WorkingDirectory"]) / log_file).read_text()
    records = [json.loads(line) for line in log.splitlines()]
    assert records[-1]["exit_code"] == done.returncode
