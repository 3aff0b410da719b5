"""`batchbot report`, `runs` and `export`: read the database, render rows."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from batchbot.cli.common import Number, cli, db_option, echo, friendly_errors
from batchbot.inert import inert_json
from batchbot.jobs.values import COUNT

if TYPE_CHECKING:  # imported when a command runs: `batchbot --help` loads none of this
    from batchbot.jobs.job import Job
    from batchbot.reports.report import Database


def _split_by(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[str, ...]:
    from batchbot.reports.report import GROUPS

    names = tuple(name.strip() for value in values for name in value.split(",") if name.strip())
    for name in names:
        if name not in GROUPS:
            raise click.BadParameter(f"{name!r} is not one of {', '.join(GROUPS)}.")
    return tuple(dict.fromkeys(names))


DAY = click.DateTime(formats=["%Y-%m-%d"])


@cli.command(name="report")
@db_option
@click.option(
    "--by",
    multiple=True,
    callback=_split_by,
    help="Group by job, model, day, run or endpoint; repeat or comma-separate to combine.",
)
@click.option("--job", help="Only this job.")
@click.option("--since", type=DAY, help="From this UTC day on (YYYY-MM-DD, inclusive).")
@click.option("--until", type=DAY, help="Up to this UTC day (YYYY-MM-DD, inclusive).")
@click.option("--json", "as_json", is_flag=True, help="A JSON list of objects.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header row.")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, writable=True),
    help="Also write a self-contained HTML page with charts to this file.",
)
def report_command(
    db_path: str,
    by: tuple[str, ...],
    job: str | None,
    since: datetime | None,
    until: datetime | None,
    as_json: bool,
    as_csv: bool,
    html_file: str | None,
) -> None:
    """Spend so far: requests, failures, tokens, cost and latency, in total or grouped.

    \b
    batchbot report --by day --since 2026-11-01
    batchbot report --by job,model --json
    """
    from batchbot.reports.report import ReportQuery, build_report, render
    from batchbot.run.stale import close_abandoned
    from batchbot.store.read import reading

    if as_json and as_csv:
        raise click.UsageError("--json and --csv are two formats: choose one.")
    query = ReportQuery(by, job, _day(since), _day(until))
    with friendly_errors():
        close_abandoned(Path(db_path))
        with reading(db_path) as db:
            report = build_report(
                db, query, detail=bool(html_file), source=str(Path(db_path).resolve())
            )
    if html_file:
        Path(html_file).write_text(render(report, "html"), encoding="utf-8")
        echo(f"wrote {html_file}", err=True)
    echo(render(report, "json" if as_json else "csv" if as_csv else "table"), nl=False)


def _day(value: datetime | None) -> str | None:
    return None if value is None else str(value.date())


@cli.command(name="runs")
@db_option
@click.option("--job", help="Only runs of this job.")
@click.option(
    "-n",
    "--limit",
    default=20,
    show_default=True,
    type=Number(COUNT),
    help="How many runs to list, newest first.",
)
@click.option("--json", "as_json", is_flag=True, help="A JSON list of objects.")
def runs_command(db_path: str, job: str | None, limit: int, as_json: bool) -> None:
    """Recent runs, newest first: status, items, ok/failed, cost and duration.

    A run whose process is gone (kill -9, a crash) is listed as crashed, never as running.
    """
    from batchbot.reports.runs import recent_runs, render_runs
    from batchbot.run.stale import close_abandoned
    from batchbot.store.read import reading

    with friendly_errors():
        close_abandoned(Path(db_path))
        with reading(db_path) as db:
            runs = recent_runs(db, job=job, limit=limit)
    echo(inert_json(json.dumps(runs, indent=2)) if as_json else render_runs(runs), nl=as_json)


@cli.command(name="export")
@click.argument("job")
@db_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv", "npy"]),
    default="jsonl",
    show_default=True,
    help="JSON lines or CSV; npy: an embeddings job's vectors as one NumPy array (needs -o).",
)
@click.option(
    "-o", "--output", type=click.File("w", encoding="utf-8"), default="-", help="File [stdout]."
)
@click.option(
    "--latest",
    is_flag=True,
    help="The newest answer of each item as it was asked, even if the job file changed since.",
)
@click.option(
    "--all",
    "history",
    is_flag=True,
    help="Every row of the job: failed and pending items, and earlier answers too.",
)
def export_command(
    job: str, db_path: str, fmt: str, output: TextIO, latest: bool, history: bool
) -> None:
    """Write the answers of JOB (a job file or a job's name), one per item of the job as it is
    now: id, prompt, answer, finish_reason, tokens, cost, error. If the job file changed since
    its items were answered, say so (exit 2) rather than leave them out.
    """
    from batchbot.reports.export import check_unchanged, export_answers, export_vectors
    from batchbot.store.read import reading

    if fmt == "npy" and output.name == "<stdout>":
        raise click.UsageError("--format npy writes a binary file: give it with -o vectors.npy.")
    if latest and history:
        raise click.UsageError("--latest and --all are two selections: choose one.")
    with friendly_errors(), reading(db_path) as db:
        target = _export_target(db, job, db_path)
        if latest:
            target = target if isinstance(target, str) else target.name
        elif not history and not isinstance(target, str):
            check_unchanged(db, target)
        if fmt == "npy":
            count = export_vectors(db, target, output.buffer, history=history)
        else:
            count = export_answers(db, target, output, fmt=fmt, history=history)
    if count == 0:
        echo(f"No answers for job {job!r} in {db_path}.", err=True)


def _export_target(db: Database, job: str, db_path: str) -> Job | str:
    """A job file is loaded; a job's name must be one the database knows."""
    from batchbot.errors import InputError
    from batchbot.jobs.job import load_job
    from batchbot.reports.export import current_job, job_names

    if Path(job).is_file() or Path(job).suffix.lower() in (".yaml", ".yml", ".jsonl"):
        loaded = load_job(job)
        return current_job(db, loaded) or loaded  # never None for a Job
    names = job_names(db)
    if job not in names:
        known = ", ".join(names) if names else "none yet"
        raise InputError(
            f"no job named {job!r} in {db_path} (its jobs: {known}): give one of those "
            "names or the job file."
        )
    found = current_job(db, job)
    if found is None:
        echo(
            f"batchbot: the job file of {job!r} cannot be read: exporting the newest answer "
            "of every item ever sent; give the job file for the job as it is now.",
            err=True,
        )
    return found or job
