"""How fast `batchbot report` answers on a database of a million requests.

    python bench/report_bench.py [--rows 1000000] [--db bench-report.db] [--keep] [--reuse]

Builds the database itself through batchbot's own migrations (so the spend rollup's triggers
do the work a real run makes them do), rewrites some rows as a retry or a re-price would, checks
every report against a full scan of `requests`, then times each report (best of 5) and prints
a table. The target: every report under 0.3 s.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _database import fill

from batchbot.reports.report import NO_VALUE, ReportQuery, build_report, spend_report
from batchbot.store.migrations import SPEND_SUMS_M010 as SPEND_SUMS
from batchbot.store.store import Store

JOBS = [f"job-{i:02d}" for i in range(20)]
MODELS = ["gpt-4o-mini", "gpt-4o", "gpt-4.1-nano", "gpt-4.1-mini", "o3-mini", "gpt-5", "gpt-5-mini"]
DAYS = 90
TARGET_S = 0.3

INSERT = """
INSERT INTO requests (job, item_id, request_hash, run_id, mode, model, status, prompt_tokens,
    cached_tokens, completion_tokens, reasoning_tokens, total_tokens, cost_usd, latency_ms,
    attempts, created_at, finished_at)
VALUES (?, ?, ?, ?, 'sync', ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)
"""
REPORTS = {
    "totals": ReportQuery(()),
    "--by day": ReportQuery(("day",)),
    "--by model": ReportQuery(("model",)),
    "--by job": ReportQuery(("job",)),
    "--by run": ReportQuery(("run",)),
    "--by job,model,day": ReportQuery(("job", "model", "day")),
    "--by day --since --until": ReportQuery(("day",), since="2026-02-01", until="2026-02-28"),
    "--job job-07 --by model": ReportQuery(("model",), job="job-07"),
    "whole report (table + charts)": None,
}


def build(db_path: Path, rows: int) -> float:
    """Fill a fresh database with `rows` requests; returns the seconds it took."""
    db_path.unlink(missing_ok=True)
    store = Store.open(db_path)
    db = store.db
    rng = random.Random(5)
    started = time.perf_counter()
    runs = {}
    with db.atomic():
        for job in JOBS:
            for day in range(DAYS):
                when = f"2026-{1 + day // 30:02d}-{1 + day % 30:02d}T02:00:00.000+00:00"
                db.execute(
                    "INSERT INTO runs (job, status, started_at, finished_at) VALUES (?, ?, ?, ?)",
                    (job, "done", when, when),
                )
                runs[job, day] = db.execute("select last_insert_rowid()").fetchone()[0]
    fill(db, INSERT, _rows(rows, runs, rng))
    store.close()
    return time.perf_counter() - started


def _rows(
    rows: int, runs: dict[tuple[str, int], int], rng: random.Random
) -> Iterator[tuple[object, ...]]:
    for n in range(rows):
        job, day = rng.choice(JOBS), rng.randrange(DAYS)
        prompt, completion = rng.randint(20, 2000), rng.randint(1, 800)
        cached = rng.choice((0, 0, 0, prompt // 2))
        status = "failed" if rng.random() < 0.02 else "ok"
        when = f"2026-{1 + day // 30:02d}-{1 + day % 30:02d}T02:{n % 60:02d}:00.000+00:00"
        cost = None if status == "failed" else (prompt * 0.15 + completion * 0.6) / 1e6
        yield (
            job, f"item-{n}", f"{n:064x}", runs[job, day], rng.choice(MODELS), status,
            prompt, cached, completion, 0, prompt + completion, cost,
            rng.uniform(200, 3000), when, when,
        )  # fmt: skip


def rewrite(db_path: Path, count: int) -> None:
    """Re-price and re-run `count` rows, as a retry or a price fix would."""
    store = Store.open(db_path)
    with store.db.atomic():
        store.db.execute(
            "UPDATE requests SET cost_usd = coalesce(cost_usd, 0) * 2 + 0.000001, "
            "status = 'ok', latency_ms = 999.5 WHERE id % (SELECT count(*) / ? FROM requests) = 0",
            (count,),
        )
        store.db.execute("DELETE FROM requests WHERE id % 100003 = 0")
    store.close()


def check(db_path: Path) -> None:
    """Every grouping from the rollup equals the same aggregate over every request row."""
    store = Store.open(db_path)
    for name, query in REPORTS.items():
        if query is None:
            continue
        fast = spend_report(store.db, query)
        slow = _full_scan(store, query)
        if fast != slow:
            raise SystemExit(f"report {name!r} disagrees with a full scan")
    store.close()


def _full_scan(store: Store, query: ReportQuery) -> list[dict[str, object]]:
    """The report's query over every row of `requests`, each summed as the rollup sums it."""
    day = "substr(coalesce(finished_at, created_at), 1, 10)"
    sums = ", ".join(f"{value.format(row='requests')} AS {name}" for name, value in SPEND_SUMS)
    scan = f"""
        SELECT job, coalesce(model, '') AS model, {day} AS day, coalesce(run_id, 0) AS run_id,
            {sums}
        FROM requests"""
    sql = query.sql().replace("FROM spend", f"FROM ({scan}) AS spend", 1)
    cursor = store.db.execute(sql, query.params())
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:  # as spend_report shows them
        for column, empty in NO_VALUE.items():
            if column in query.columns and row[column] == empty:
                row[column] = None
    return rows


def time_reports(db_path: Path) -> list[tuple[str, float, int]]:
    store = Store.open(db_path)
    results = []
    for name, query in REPORTS.items():
        best, count = float("inf"), 0
        for _ in range(5):
            started = time.perf_counter()
            if query is None:
                count = len(build_report(store.db, ReportQuery(("day",))).rows)
            else:
                count = len(spend_report(store.db, query))
            best = min(best, time.perf_counter() - started)
        results.append((name, best, count))
    store.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=Path("bench-report.db"))
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="use --db as it is if it exists")
    args = parser.parse_args()
    if args.reuse and args.db.exists():
        print(f"reusing {args.db}")
    else:
        built = build(args.db, args.rows)
        print(f"built {args.rows:,} requests in {built:.1f} s ({args.db})")
    rewrite(args.db, 10_000)
    check(args.db)
    print("after rewriting ~10,000 rows and deleting ~10: every report equals a full scan")
    results = time_reports(args.db)
    print(f"\n{'report':<32}  {'rows out':>8}  {'best of 5':>10}")
    for name, seconds, count in results:
        print(f"{name:<32}  {count:>8,}  {seconds * 1000:>8.1f} ms")
    slowest = max(seconds for _, seconds, _ in results)
    print(f"\nslowest {slowest * 1000:.1f} ms; target < {TARGET_S * 1000:.0f} ms")
    if not args.keep:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{args.db}{suffix}").unlink(missing_ok=True)
    if slowest >= TARGET_S:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
