"""Peak memory of batchbot as jobs grow: it should stay flat, because items are streamed.

For each size it writes a JSONL job, runs `batchbot run` against the fake server (in its own
process, limits far above reach, no latency) in a child process and reads the child's peak
RSS, then runs it again (everything answered: nothing to send); then a `--dry-run` of a job
of --dry-run-size lines (validation and token counting of every line, no network). The
million-item run takes about half an hour.

    python bench/memory.py [--sizes 10000 100000 1000000] [--dry-run-size 1000000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _fake import HIGH_LIMITS, fake_server_process, write_jsonl_job


def peak_rss_mb(argv: list[str], cwd: Path) -> tuple[float, float]:
    """Run argv in a fresh child; its peak RSS in MB and its wall time in seconds."""
    env = {**os.environ, "OPENAI_API_KEY": "sk-bench"}
    code = (
        "import resource, runpy, sys; sys.argv = sys.argv[1:]\n"
        "try:\n    runpy.run_module('batchbot', run_name='__main__')\n"
        "finally:\n    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)"
    )
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, "batchbot", *argv],
        cwd=cwd, env=env, capture_output=True, text=True,
    )  # fmt: skip
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return int(done.stderr.strip().splitlines()[-1]) / 1024, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--dry-run-size", type=int, default=1_000_000)
    args = parser.parse_args()
    print("| job | items | peak RSS MB | wall s |")
    print("| --- | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as tmp, fake_server_process(*HIGH_LIMITS) as url:
        work = Path(tmp)
        for size in args.sizes:
            job = write_jsonl_job(work / f"job{size}.jsonl", size)
            run = ["run", str(job), "--base-url", url, "--quiet", "--rpm", "1e9", "--tpm", "1e12",
                   "--db", str(work / f"job{size}.db")]  # fmt: skip
            rss, wall = peak_rss_mb(run, work)
            print(f"| run | {size:,} | {rss:.0f} | {wall:.0f} |", flush=True)
            rss, wall = peak_rss_mb(run, work)
            print(f"| rerun, all answered | {size:,} | {rss:.0f} | {wall:.0f} |", flush=True)
        big = write_jsonl_job(work / "big.jsonl", args.dry_run_size)
        rss, wall = peak_rss_mb(["run", str(big), "--dry-run"], work)
        print(f"| --dry-run (validate + count) | {args.dry_run_size:,} | {rss:.0f} | {wall:.0f} |")


if __name__ == "__main__":
    main()
