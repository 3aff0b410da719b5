"""`batchbot batches` and `cancel`: the Batch API batches a job submitted."""

from __future__ import annotations

from pathlib import Path

import click

from batchbot.cli.common import cli, db_option, echo, friendly_errors


@cli.command(name="batches")
@click.option("--job", "job_name", help="Only this job's batches (the job's name).")
@db_option
def batches_list(job_name: str | None, db_path: str) -> None:
    """List the Batch API batches batchbot submitted: id, status, counts, created, cost.

    Statuses are as of the last `batchbot run` of their job, which polls them.
    """
    from batchbot.reports.batches import batches_table
    from batchbot.store.read import list_batches, reading

    with friendly_errors():
        path = Path(db_path)
        rows = []
        if path.exists():
            with reading(path) as db:
                rows = list_batches(db, job_name)
        echo("\n".join(batches_table(rows)))


@cli.command(name="cancel")
@click.argument("job_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--fake", is_flag=True, help="Batches of the built-in simulated OpenAI API (no key).")
@click.option(
    "--base-url",
    help="Any OpenAI-compatible API, e.g. http://localhost:8000/v1.",
)
@db_option
def batches_cancel(job_file: Path, fake: bool, base_url: str | None, db_path: str | None) -> None:
    """Cancel the running batches of JOB_FILE.

    The next `batchbot run` collects them: answers they already have are kept, the rest of
    their items go back to pending and are submitted again. With --fake: the batches of
    --fake runs, which ended with their run, are marked cancelled here, their items pending.
    """
    from batchbot.batch.messages import cancel_lines
    from batchbot.config import Flags, resolve_config
    from batchbot.environment import environment
    from batchbot.jobs.job import load_job
    from batchbot.library import cancel_batches

    with friendly_errors():
        job = load_job(job_file)
        flags = Flags(db_path=db_path, base_url=base_url, fake=fake)
        config = resolve_config(job, flags, environment())
        cancelled = cancel_batches(job, config=config, command_line=True)
    echo("\n".join(cancel_lines(job.name, cancelled)))
