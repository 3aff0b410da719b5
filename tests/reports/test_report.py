"""`batchbot report`, `runs` and `export` against a seeded database, output compared whole."""

# ruff: noqa: E501  (seed rows and expected outputs read best one per line, however wide)

from __future__ import annotations

import json
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from batchbot.store.store import Store

RUNS = [
    (1, "faq", "done", "2026-11-01T10:00:00.000+00:00", "2026-11-01T10:00:02.500+00:00", 2, 1, 1),
    (2, "faq", "done", "2026-11-02T09:00:00.000+00:00", "2026-11-02T09:00:01.000+00:00", 2, 2, 0),
    (3, "labels", "failed", "2026-11-02T11:00:00.000+00:00", None, 3, 2, 1),
]
COLUMNS = (
    "id, job, item_id, run_id, model, status, prompt_tokens, cached_tokens, completion_tokens, "
    "reasoning_tokens, cost_usd, latency_ms, content, finish_reason, finished_at, http_requests"
)
# The HTTP requests (last column): y shares x's packed request; x was retried once.
REQUESTS = [
    (1, "faq", "a", 1, "gpt-4o-mini", "ok", 100, 0, 50, 0, 0.000045, 200, "A1", "stop", "2026-11-01T10:00:01", 1),
    (2, "faq", "b", 1, "gpt-4o-mini", "failed", None, None, None, None, None, None, None, None, "2026-11-01T10:00:02", 1),
    (3, "faq", "c", 2, "gpt-4o-mini", "ok", 200, 100, 80, 0, 0.0001, 400, "C1", "stop", "2026-11-02T09:00:01", 1),
    (4, "labels", "x", 3, "o3-mini", "ok", 1000, 0, 500, 256, 0.0033, 1000, "X1", "stop", "2026-11-02T11:00:01", 2),
    (5, "labels", "y", 3, "my-model", "truncated", 10, 0, 5, 0, None, 100, "Y", "length", "2026-11-02T11:00:02", 0),
    (6, "labels", "z", 3, "gpt-4o-mini", "failed", None, None, None, None, None, None, None, None, "2026-11-02T11:00:03", 1),
]  # fmt: skip
# Item b failed in run 1 and was answered in run 2: its row is rewritten in place.
RETRY_B = (
    "UPDATE requests SET run_id = 2, status = 'ok', prompt_tokens = 120, cached_tokens = 0, "
    "completion_tokens = 60, reasoning_tokens = 0, cost_usd = 0.00005, latency_ms = 300, "
    "content = 'B2', finish_reason = 'stop', finished_at = '2026-11-02T09:00:00', "
    "http_requests = 3 WHERE id = 2"
)


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    """batchbot.db with three runs of two jobs over two days, one row rewritten, one deleted."""
    store = Store.open(tmp_path / "batchbot.db")
    db = store.db
    with db.atomic():
        db.conn.executemany(
            "INSERT INTO runs (id, job, status, started_at, finished_at, items, ok, failed) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            RUNS,
        )
        db.conn.executemany(
            f"INSERT INTO requests ({COLUMNS}, request_hash, created_at, request) "
            f"VALUES ({', '.join('?' * 16)}, 'h', '2026-11-01T09:00:00', ?)",
            [(*row, json.dumps({"messages": [{"role": "user", "content": f"Q {row[2]}"}]}))
             for row in REQUESTS],
        )  # fmt: skip
        db.execute(
            "INSERT INTO requests (job, item_id, request_hash, status, created_at) "
            "VALUES ('faq', 'gone', 'h', 'ok', '2026-11-02T00:00:00')"
        )
        db.execute(RETRY_B)
        db.execute("DELETE FROM requests WHERE item_id = 'gone'")
    store.close()
    return tmp_path / "batchbot.db"


def _sums(
    requests, http, answered, failed, prompt, cached, completion, reasoning, cost, latency, cut=0
):
    return {
        "requests": requests,
        "http_requests": http,
        "answered": answered,
        "truncated": cut,
        "invalid": 0,
        "refused": 0,
        "failed": failed,
        "prompt_tokens": prompt,
        "cached_tokens": cached,
        "completion_tokens": completion,
        "reasoning_tokens": reasoning,
        "cost_usd": cost,
        "reasks": 0,
        "reask_cost_usd": 0.0,
        "avg_latency_ms": latency,
        "cache_hits": 0,
        "cache_saved_usd": 0.0,
        "prompt_cache_saved_usd": 0.0,
        "batch_saved_usd": 0.0,
        "flex_saved_usd": 0.0,
        "priority_extra_usd": 0.0,
    }


FAQ = _sums(3, 5, 3, 0, 420, 100, 190, 0, 0.000195, 300.0)
LABELS = _sums(3, 3, 2, 1, 1010, 0, 505, 256, 0.0033, 550.0, cut=1)
RUN_1 = _sums(1, 1, 1, 0, 100, 0, 50, 0, 0.000045, 200.0)
RUN_2 = _sums(2, 4, 2, 0, 320, 100, 140, 0, 0.00015, 350.0)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param([], [_sums(6, 8, 5, 1, 1430, 100, 695, 256, 0.003495, 400.0, 1)], id="totals"),
        pytest.param(
            ["--by", "job"], [{"job": "faq", **FAQ}, {"job": "labels", **LABELS}], id="job"
        ),
        pytest.param(
            ["--by", "model"],
            [
                {"model": "gpt-4o-mini", **_sums(4, 6, 3, 1, 420, 100, 190, 0, 0.000195, 300.0)},
                {"model": "my-model", **_sums(1, 0, 1, 0, 10, 0, 5, 0, None, 100.0, cut=1)},
                {"model": "o3-mini", **_sums(1, 2, 1, 0, 1000, 0, 500, 256, 0.0033, 1000.0)},
            ],
            id="model",
        ),
        pytest.param(
            ["--by", "day"],
            [
                {"day": "2026-11-01", **RUN_1},
                {
                    "day": "2026-11-02",
                    **_sums(5, 7, 4, 1, 1330, 100, 645, 256, 0.00345, 450.0, cut=1),
                },
            ],
            id="day",
        ),
        pytest.param(
            ["--by", "run"],
            [{"run_id": 1, **RUN_1}, {"run_id": 2, **RUN_2}, {"run_id": 3, **LABELS}],
            id="run",
        ),
        pytest.param(
            ["--by", "job,day"],
            [
                {"job": "faq", "day": "2026-11-01", **RUN_1},
                {"job": "faq", "day": "2026-11-02", **RUN_2},
                {"job": "labels", "day": "2026-11-02", **LABELS},
            ],
            id="job-day",
        ),
        pytest.param(
            ["--by", "day", "--by", "job", "--since", "2026-11-02", "--job", "faq"],
            [{"day": "2026-11-02", "job": "faq", **RUN_2}],
            id="since-job",
        ),
        pytest.param(["--until", "2026-11-01"], [RUN_1], id="until"),
        pytest.param(["--since", "2026-12-01"], [], id="nothing"),
    ],
)
def test_report_json(seeded, invoke, args, expected):
    """Every grouping, combined and filtered, sums exactly what the rows say."""
    result = invoke("report", *args, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == expected


TABLE = """\
day         items  HTTP requests  answered  cut off  failed  prompt  cached  completion  reasoning  cost USD  avg ms
----------  -----  -------------  --------  -------  ------  ------  ------  ----------  ---------  --------  ------
2026-11-01      1              1         1        0       0     100       0          50          0  0.000045     200
2026-11-02      5              7         4        1       1   1,330     100         645        256   0.00345     450

Cost by day (UTC)
2026-11-01  █                                         $0.000045
2026-11-02  ████████████████████████████████████████  $0.00345

Why items failed (commonest first)
  1 × no error message
"""
CSV = """\
run_id,requests,http_requests,answered,truncated,invalid,refused,failed,prompt_tokens,cached_tokens,completion_tokens,reasoning_tokens,cost_usd,reasks,reask_cost_usd,avg_latency_ms,cache_hits,cache_saved_usd,prompt_cache_saved_usd,batch_saved_usd,flex_saved_usd,priority_extra_usd
1,1,1,1,0,0,0,0,100,0,50,0,0.000045,0,0.0,200.0,0,0.0,0.0,0.0,0.0,0.0
2,2,4,2,0,0,0,0,320,100,140,0,0.00015,0,0.0,350.0,0,0.0,0.0,0.0,0.0,0.0
3,3,3,2,1,0,0,1,1010,0,505,256,0.0033,0,0.0,550.0,0,0.0,0.0,0.0,0.0,0.0
"""


def test_report_table_with_chart(seeded, invoke):
    """The default is a readable table followed by a bar chart of cost by day."""
    result = invoke("report", "--by", "day")
    assert result.exit_code == 0
    assert result.output == TABLE


def test_report_csv(seeded, invoke):
    """--csv has a header row and the same names as --json."""
    assert invoke("report", "--by", "run", "--csv").output == CSV


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--by", "week"], "'week' is not one of job, model, day, run"),
        (["--json", "--csv"], "--json and --csv are two formats: choose one."),
        (["--since", "yesterday"], "'yesterday' does not match the format '%Y-%m-%d'"),
    ],
)
def test_report_bad_flags(seeded, invoke, args, message):
    """Bad or conflicting flags are a usage error naming the problem."""
    result = invoke("report", *args)
    assert result.exit_code == 2
    assert message in result.output


def test_report_without_database(invoke):
    """No database yet: exit 2 and say what to do."""
    result = invoke("report")
    assert result.exit_code == 2
    assert "no database at batchbot.db: run a job first, or pass --db." in result.output


@pytest.mark.parametrize(
    "command",
    [["report"], ["runs"], ["export", "faq"], ["batches"], ["run", "job.yaml", "--fake"]],
)
def test_a_file_that_is_not_a_database(tmp_path, invoke, command):
    """Every command given a file that is not a database says so in one line, exit 2."""
    (tmp_path / "job.yaml").write_text("model: gpt-4o-mini\nprompts: [one]\n")
    (tmp_path / "notes.db").write_text("shopping list: milk, eggs\n")
    result = invoke(*command, "--db", str(tmp_path / "notes.db"))
    assert result.exit_code == 2, result.output
    assert "notes.db cannot be" in result.output
    assert "file is not a database" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert (tmp_path / "notes.db").read_text() == "shopping list: milk, eggs\n"


def test_runs_with_none_yet(tmp_path, invoke):
    """A database with no runs yet: one line saying so, and nothing else."""
    Store.open(tmp_path / "batchbot.db").close()
    result = invoke("runs")
    assert (result.exit_code, result.output) == (0, "No runs yet.\n")


def test_runs_lists_newest_first(seeded, invoke):
    """batchbot runs: status, items, ok/failed, cost and duration of each run, newest first."""
    result = invoke("runs")
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "  run  job               status       started (UTC)          items       ok  failed    cost USD      time",
        "    3  labels            failed       2026-11-02 11:00:00        3        2       1           -         -",
        "       failed: 1 × no error message",
        "    2  faq               done         2026-11-02 09:00:00        2        2       0           -     1.0 s",
        "    1  faq               done         2026-11-01 10:00:00        2        1       1           -     2.5 s",
    ]  # fmt: skip
    runs = json.loads(invoke("runs", "--json", "--job", "faq", "-n", "1").output)
    assert [(r["run_id"], r["duration_s"], r["failures"]) for r in runs] == [(2, 1.0, [])]


def test_failures_are_explained_everywhere(write_job, invoke, fake_api):
    """Why items failed is in the --quiet summary, `runs`, `report`, `export --all` and runs.exit_code."""
    job = write_job("temp3.yaml", "model: o3-mini\nparams: {temperature: 0.5}\nprompts: [a, b]\n")
    result = invoke("run", str(job), "--base-url", fake_api.url, "--quiet")
    assert result.exit_code == 1
    why = "2 × 400: Unsupported value: 'temperature' does not support 0.5 with this model."
    assert result.output.splitlines()[1].startswith(f"  failed: {why}")
    assert f"       failed: {why}" in invoke("runs").output
    assert f"\nWhy items failed (commonest first)\n  {why}" in invoke("report").output
    (run,) = json.loads(invoke("runs", "--json").output)
    assert run["failures"][0]["count"] == 2
    rows = [json.loads(line) for line in invoke("export", "temp3", "--all").stdout.splitlines()]
    assert [r["error"][:40] for r in rows] == ["400: Unsupported value: 'temperature' do"] * 2
    store = Store.open("batchbot.db")
    assert store.db.execute("select exit_code from runs").fetchall() == [(1,)]
    store.close()


def test_export_jsonl_and_csv(seeded, invoke, tmp_path):
    """export writes one line per answered item: id, prompt, answer, finish_reason, tokens, cost."""
    result = invoke("export", "faq")
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["id"], r["prompt"], r["answer"], r["cost_usd"]) for r in lines] == [
        ("a", "Q a", "A1", 0.000045),
        ("b", "Q b", "B2", 0.00005),
        ("c", "Q c", "C1", 0.0001),
    ]
    assert "cannot be read" in result.stderr  # no job file to say what the job is now
    out = tmp_path / "labels.csv"
    assert invoke("export", "labels", "--format", "csv", "-o", str(out), "--all").exit_code == 0
    assert out.read_text().splitlines() == [
        "id,prompt,answer,finish_reason,status,model,prompt_tokens,completion_tokens,cost_usd,error,"
        "validation_error,refusal,reasks,metadata",
        "x,Q x,X1,stop,ok,o3-mini,1000,500,0.0033,,,,0,",
        "y,Q y,Y,length,truncated,my-model,10,5,,,,,0,",
        "z,Q z,,,failed,gpt-4o-mini,,,,,,,0,",
    ]


def test_export_has_no_float_noise(seeded, invoke):
    """A cost stored as 3.4649999999999995e-05 is exported as 3.465e-05."""
    store = Store.open(seeded)
    store.db.execute("UPDATE requests SET cost_usd = 3.4649999999999995e-05 WHERE item_id = 'a'")
    store.db.conn.commit()
    store.close()
    (first, *_) = invoke("export", "faq").stdout.splitlines()
    assert '"cost_usd": 3.465e-05' in first


def test_export_follows_the_job_as_it_is_now(write_job, invoke, fake_api):
    """An edited prompt and a rerun with another model replace old answers; --all has them all."""
    job = write_job("j.yaml", "model: gpt-4o-mini\nprompts: [one, two, three]\n")
    assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0
    job.write_text("model: gpt-4o-mini\nprompts: [one, two, 'three, edited']\n")
    assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0
    for target in ("j", str(job)):
        rows = [json.loads(line) for line in invoke("export", target).stdout.splitlines()]
        assert [r["prompt"] for r in rows] == ["one", "two", "three, edited"]
    assert invoke("run", str(job), "--base-url", fake_api.url, "--model", "gpt-4o").exit_code == 0
    rows = [json.loads(line) for line in invoke("export", "j").stdout.splitlines()]
    assert [(r["prompt"], r["model"]) for r in rows] == [
        ("one", "gpt-4o"),
        ("two", "gpt-4o"),
        ("three, edited", "gpt-4o"),
    ]
    assert len(invoke("export", "j", "--all").stdout.splitlines()) == 7


@pytest.mark.parametrize("target", ["home-tips", "home-tips.yaml"])
def test_export_after_an_edit_says_the_job_changed(write_job, invoke, fake_api, target):
    """A job file edited since its run (max_tokens changed): export says so with exit 2 and
    names --latest, which exports what is there, rather than write an empty file."""
    text = "model: gpt-4o-mini\nparams: {max_tokens: 50}\nprompts: [one, two, three]\n"
    job = write_job("home-tips.yaml", text)
    assert invoke("run", "home-tips.yaml", "--base-url", fake_api.url).exit_code == 0
    job.write_text(text.replace("50", "80"))
    result = invoke("export", target)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "Error: home-tips.yaml has changed since 'home-tips' was run: 3 of its 3 items have "
        "no answer to what they ask now, and 3 answers are to what it asked before (a prompt, "
        "the model or a parameter changed). Run the job again to answer it as it is now, or "
        "pass --latest to export the newest answer of each item as it was asked.\n"
    )
    latest = [json.loads(line) for line in invoke("export", target, "--latest").stdout.splitlines()]
    assert sorted(row["prompt"] for row in latest) == ["one", "three", "two"]
    assert invoke("run", "home-tips.yaml", "--base-url", fake_api.url).exit_code == 0
    assert len(invoke("export", target).stdout.splitlines()) == 3


def test_export_leaves_out_failed_and_new_items_without_a_word(write_job, invoke, fake_api):
    """Items never answered (one failed, one added since) are no change to the job: the
    export writes the answered ones, exit 0."""
    job = write_job(
        "j.yaml", "model: gpt-4o-mini\nprompts: [one, 'two [[fake:context_length_exceeded]]']\n"
    )
    assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 1
    job.write_text(job.read_text().replace("]\n", ", three]\n"))
    result = invoke("export", "j")
    assert result.exit_code == 0
    assert [json.loads(line)["prompt"] for line in result.stdout.splitlines()] == ["one"]


def test_read_answers_says_the_job_changed_too(write_job, invoke, fake_api):
    """The library's read_answers raises the same error, pointing at latest=True."""
    from batchbot import read_answers
    from batchbot.errors import JobChanged

    job = write_job("j.yaml", "model: gpt-4o-mini\nprompts: [one]\n")
    assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0
    job.write_text("model: gpt-4o-mini\nparams: {temperature: 0}\nprompts: [one]\n")
    with pytest.raises(JobChanged, match="pass latest=True"):
        list(read_answers(job))
    assert [answer.prompt for answer in read_answers(job, latest=True)] == ["one"]


def test_export_of_an_unknown_job_lists_the_jobs(seeded, invoke):
    """A job name the database does not know: exit 2 and the names it does know."""
    result = invoke("export", "fqa")
    assert result.exit_code == 2
    assert result.output == (
        "Error: no job named 'fqa' in batchbot.db (its jobs: faq, labels): "
        "give one of those names or the job file.\n"
    )


def test_report_after_a_real_run(write_job, invoke, fake_api):
    """The rollup follows real runs: report totals equal the requests table's own sums."""
    job = write_job("j.yaml", "model: gpt-4o-mini\nparams: {max_tokens: 30}\nprompts: [a, b, c]\n")
    assert invoke("run", str(job), "--base-url", fake_api.url).exit_code == 0
    (total,) = json.loads(invoke("report", "--json").output)
    store = Store.open("batchbot.db")
    prompt, cost = store.db.execute(
        "select sum(prompt_tokens), sum(cost_usd) from requests"
    ).fetchone()
    store.close()
    assert (total["requests"], total["prompt_tokens"]) == (3, prompt)
    assert total["cost_usd"] == pytest.approx(cost)


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs headless Chromium at /usr/bin/chromium (apt-get install chromium)",
)
def test_html_report_renders_in_chromium(seeded, invoke, tmp_path):
    """--html writes one self-contained page whose charts and tables Chromium draws full width."""
    page = tmp_path / "report.html"
    result = invoke("report", "--by", "model", "--html", str(page))
    assert result.exit_code == 0
    assert result.stderr == f"wrote {page}\n"
    html = page.read_text()
    assert "http" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # no network
    assert html.count("<svg") == 2  # spend over time by model, spend by job
    assert f"From {seeded.resolve()}, generated 20" in html
    for part in (
        "Spend over time, by model", "Spend by job", "Cost per answered item",
        "USD per answered item", "Failures, cut-off, invalid and refused answers",
        "<b>1 ×</b> no error message",
    ):  # fmt: skip
        assert part in html
    width, height, pixels = screenshot(page, tmp_path, "900,1400")
    assert (width, height) == (900, 1400)
    first, second = bytes((0x1F, 0x6F, 0xEB)), bytes((0xE8, 0x59, 0x0C))
    assert sum(1 for p in pixels if p == first) > 2000  # o3-mini's stack and the job bars
    assert sum(1 for p in pixels if p == second) > 200  # gpt-4o-mini stacked above
    rightmost = max(i % width for i, p in enumerate(pixels) if p == first)
    assert rightmost > 0.75 * width  # the charts use the page's width


def screenshot(page: Path, tmp_path: Path, size: str) -> tuple[int, int, list[bytes]]:
    """`page` as headless Chromium draws it in a window of `size` ("900,1400"): its pixels."""
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
            "--hide-scrollbars", f"--window-size={size}", f"--screenshot={shot}", page.as_uri(),
        ],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return _png_pixels(shot.read_bytes())


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """RGB pixels of an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        header = body if kind == b"IHDR" else header
        chunks += body if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8
    assert colour in (2, 6)
    step = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(chunks), width * step
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for x in range(stride):
            a = line[x - step] if x >= step else 0
            b, c = previous[x], previous[x - step] if x >= step else 0
            if kind == 1:
                line[x] = (line[x] + a) & 255
            elif kind == 2:
                line[x] = (line[x] + b) & 255
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        previous = line
    pixels = [row[x : x + 3] for row in rows for x in range(0, stride, step)]
    return width, height, pixels


def test_rollup_migration_counts_older_rows(tmp_path):
    """Requests written before the rollup existed are summed into it by its migration."""
    from sqlite_utils import Database

    from batchbot.store.migrations import migrations

    db = Database(str(tmp_path / "old.db"))
    migrations.apply(db, stop_before="m002_spend_rollup")
    db.execute(
        "INSERT INTO requests (job, item_id, request_hash, status, model, prompt_tokens, cost_usd, "
        "created_at) VALUES ('old', 'i', 'h', 'ok', 'gpt-4o', 7, 0.25, '2025-01-02T00:00:00')"
    )
    db.close()
    store = Store.open(tmp_path / "old.db")
    rows = store.db.execute(
        "select job, model, day, requests, prompt_tokens, cost_nanousd from spend"
    ).fetchall()
    store.close()
    assert rows == [("old", "gpt-4o", "2025-01-02", 1, 7, 250_000_000)]
