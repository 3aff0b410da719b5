"""Hostile strings in a job (escape sequences, BEL, C1 controls, spreadsheet formulas) stay
inert everywhere batchbot shows them: stdout, stderr, the log file, reports, exports."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from hostile import OSC, assert_inert

# The same, as YAML writes them in double quotes (the file itself holds no control character).
OSC_YAML = "\\e]0;PWNED\\a"
JOB = f"""\
name: "faq{OSC_YAML}\\e[2J"
model: gpt-4o-mini
params: {{max_tokens: 20}}
prompts:
  - {{id: "a{OSC_YAML}", user: "Hi \\e[31mred\\e[0m and \\x9b2J there\\a"}}
  - {{id: "=1+1", user: "=cmd|' /C calc'!A0"}}
  - {{id: "-x", user: "@SUM(1)"}}
  - {{id: "+y", user: "+1"}}
"""


def batchbot(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """The real command in a child process, so stdout and stderr are the bytes a terminal gets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "BATCHBOT_"))}
    return subprocess.run(
        [sys.executable, "-m", "batchbot", *args], cwd=cwd, env=env, capture_output=True, timeout=60
    )


def test_no_escape_or_bel_reaches_a_terminal_or_a_log(tmp_path):
    """Job name, ids, prompts and answers with escapes: nothing active in any output or log."""
    (tmp_path / "job.yaml").write_text(JOB, encoding="utf-8")
    commands = [
        ["run", "job.yaml", "--fake", "-v", "--log-file", "run.log"],
        ["run", "job.yaml", "--fake", "-v", "--log-file", "run.jsonl", "--log-format", "json"],
        ["run", "job.yaml", "--dry-run"],
        ["run", "job.yaml", "--dry-run", "--json"],
        ["report"],
        ["report", "--by", "job,model", "--csv"],
        ["report", "--by", "job", "--json"],
        ["runs"],
        ["runs", "--json"],
        ["export", "job.yaml"],
        ["export", "job.yaml", "--format", "csv"],
        ["export", "faq\x1b]0;PWNED\x07\x1b[2J", "--all"],
    ]
    for command in commands:
        result = batchbot(tmp_path, *command)
        assert result.returncode == 0, (command, result.stdout, result.stderr)
        assert_inert(result.stdout, f"stdout of {command}")
        assert_inert(result.stderr, f"stderr of {command}")
    for log in ("run.log", "run.jsonl"):
        assert_inert((tmp_path / log).read_bytes(), log)
    saved = batchbot(tmp_path, "export", "job.yaml").stdout.decode()
    answers = [json.loads(line) for line in saved.splitlines()]
    assert answers[0]["id"] == f"a{OSC}"  # JSON escapes it: the data itself is whole
    assert "\x9b2J" in answers[0]["prompt"]


def test_an_error_quoting_a_hostile_model_is_inert(tmp_path):
    """A model name with escapes, refused by the API: the error line and log are inert too."""
    job = JOB.replace("model: gpt-4o-mini", 'model: "gpt\\e]0;PWNED\\a-4o"')
    (tmp_path / "job.yaml").write_text(job, encoding="utf-8")
    result = batchbot(tmp_path, "run", "job.yaml", "--fake", "--log-file", "run.log")
    assert result.returncode == 2, result.stderr
    assert b"the API has no model 'gpt" in result.stderr
    assert_inert(result.stdout + result.stderr, "the run's output")
    assert_inert((tmp_path / "run.log").read_bytes(), "run.log")


def test_csv_text_cells_never_start_a_formula(tmp_path):
    """Exported and reported CSV: no text cell opens with =, +, - or @ unescaped."""
    (tmp_path / "job.yaml").write_text(JOB, encoding="utf-8")
    assert batchbot(tmp_path, "run", "job.yaml", "--fake").returncode == 0
    exported = batchbot(tmp_path, "export", "job.yaml", "--format", "csv").stdout.decode()
    reported = batchbot(tmp_path, "report", "--by", "job,model", "--csv").stdout.decode()
    rows = [*csv.reader(io.StringIO(exported)), *csv.reader(io.StringIO(reported))]
    cells = [cell for row in rows for cell in row]
    assert "'=1+1" in cells
    assert "'=cmd|' /C calc'!A0" in cells
    assert "'@SUM(1)" in cells
    assert "'+1" in cells
    for cell in cells:
        assert not cell.startswith(("=", "+", "-", "@")), cell


def test_a_lone_surrogate_in_a_setting_is_refused_with_its_place(write_job, invoke):
    """A job named "\\ud800" (no character at all): exit 2 naming the field, nothing run."""
    write_job("job.yaml", 'model: gpt-4o-mini\nname: "\\uD800"\nprompts: [a]\n')
    result = invoke("run", "job.yaml", "--dry-run")
    assert result.exit_code == 2
    assert result.output == (
        "Error: job.yaml:2:7: name: contains an unpaired surrogate escape (\\ud800-\\udfff), "
        "which is no character: remove it\n"
    )


def test_the_html_report_escapes_what_a_job_names(tmp_path):
    """A job and model named like markup appear as text in the HTML report, never as tags."""
    job = JOB.replace('name: "faq', 'name: "<script>alert(1)</script><b>faq')
    (tmp_path / "job.yaml").write_text(job, encoding="utf-8")
    assert batchbot(tmp_path, "run", "job.yaml", "--fake").returncode == 0
    result = batchbot(tmp_path, "report", "--by", "job", "--html", "report.html")
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;faq" in page
    assert "<script>alert" not in page
    assert "<b>faq" not in page


def test_schema_field_columns_never_start_a_formula(write_job, invoke, fake_api):
    """A schema's fields in a CSV export, values and the headers named after them, are
    neutralised like every other text cell."""
    schema = {
        "type": "object",
        "properties": {
            "formula": {"type": "string", "enum": ['=HYPERLINK("http://evil","x")']},
            "@sum": {"type": "string", "enum": ["-2+3"]},
            "title": {"type": "string", "enum": ["\x1b]0;PWNED\x07fine"]},
        },
        "required": ["formula", "@sum", "title"],
        "additionalProperties": False,
    }
    job = write_job(
        "fields.yaml",
        f"model: gpt-4o-mini\nparams: {{max_tokens: 100}}\nschema: {json.dumps(schema)}\n"
        "prompts: [one, two]\n",
    )
    assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0
    exported = invoke("export", str(job), "--format", "csv").stdout
    header, *rows = list(csv.reader(io.StringIO(exported)))
    assert header[-3:] == ["formula", "'@sum", "title"]
    assert rows
    for row in rows:
        assert row[-3:] == ['\'=HYPERLINK("http://evil","x")', "'-2+3", "fine"]
    for cell in [*header, *(cell for row in rows for cell in row)]:
        assert not cell.startswith(("=", "+", "-", "@")), cell
    assert_inert(exported.encode(), "the CSV export")
