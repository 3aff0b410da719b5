"""kill -9 a real `batchbot run` many times at random moments and print what survived.

    python bench/soak_kill.py                 # 100 kills, about three minutes
    python bench/soak_kill.py --kills 20 --items 200 --concurrency 8

Each cycle starts `python -m batchbot run` against a fake API served from this process, kills
it with SIGKILL either during start-up or a random number of saved answers (plus a few ms)
into the run, then checks the database it left:

- every item the run logged as saved (--verbose --log-file, written after the commit) is there;
- `PRAGMA integrity_check` says ok;
- answers the server sent that never reached the database (they will be asked again) are no
  more than the requests in flight, which --concurrency bounds.

When a job is fully answered a new round starts on a new database. At the end each round's job
is run to completion and the server's duplicate count is compared with the answers lost at kills.
Talks only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from batchbot.fake.server import FakeServer


@dataclass
class Round:
    db: Path
    job: Path
    lost: list[int] = field(default_factory=list)  # per kill: answered by server, not stored


@dataclass
class Figures:
    kills: int = 0
    mid_run: int = 0  # kills that landed after the first answer was saved
    ack_lost: int = 0  # items logged as saved but missing afterwards: must stay 0
    corrupt: int = 0  # integrity_check not ok: must stay 0
    over_bound: int = 0  # kills that lost more answers than could be in flight: must stay 0
    lost: list[int] = field(default_factory=list)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=40.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    # A client killed while sending its body makes aiohttp log a traceback; that is the point.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    server = FakeServer(latency_ms=args.latency_ms).start_in_thread()
    started = time.monotonic()
    figures, rounds = Figures(), []
    answered_before = 0  # server answers in finished rounds
    try:
        with tempfile.TemporaryDirectory(prefix="batchbot-soak-") as tmp:
            work = Path(tmp)
            current = new_round(work, 0, args.items)
            rounds.append(current)
            for kill in range(args.kills):
                if len(answered_ids(current.db)) == args.items:
                    answered_before = server.stats.answered
                    current = new_round(work, len(rounds), args.items)
                    rounds.append(current)
                log = work / f"kill{kill}.jsonl"
                proc = start_run(current, server.url, work, log, args.concurrency)
                kill_at_random(proc, log, rng)
                time.sleep(0.1 + args.latency_ms / 1000)  # the server finishes what was sent
                stored = answered_ids(current.db)
                figures.kills += 1
                figures.mid_run += bool(acknowledged(log))
                figures.ack_lost += len(acknowledged(log) - stored)
                if current.db.exists() and integrity(current.db) != "ok":
                    figures.corrupt += 1
                lost = server.stats.answered - answered_before - len(stored) - sum(current.lost)
                figures.over_bound += lost > args.concurrency
                current.lost.append(lost)
                figures.lost.append(lost)
            duplicates_before = server.stats.duplicates
            for done in rounds:
                proc = start_run(done, server.url, work, work / "final.jsonl", args.concurrency)
                if proc.wait(timeout=300) != 0 or len(answered_ids(done.db)) != args.items:
                    print(f"round {done.db.name}: final run did not answer every item")
                    return 1
            stats = server.stats
    finally:
        server.stop()
    report(figures, rounds, stats.duplicates, duplicates_before, args, time.monotonic() - started)
    ok = not (figures.ack_lost or figures.corrupt or figures.over_bound)
    ok = ok and stats.duplicates <= sum(figures.lost)
    return 0 if ok else 1


def new_round(work: Path, number: int, items: int) -> Round:
    job = work / f"soak{number}.yaml"
    prompts = "".join(f"  - Round {number}, question {i}?\n" for i in range(items))
    job.write_text(f"model: gpt-4o-mini\nprompts:\n{prompts}", encoding="utf-8")
    return Round(db=work / f"soak{number}.db", job=job)


def start_run(
    round_: Round, url: str, cwd: Path, log: Path, concurrency: int
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "BATCHBOT_"))}
    env["OPENAI_API_KEY"] = "sk-soak"
    argv = [sys.executable, "-m", "batchbot", "run", str(round_.job), "--base-url", url]
    argv += ["--db", str(round_.db), "--quiet", "--concurrency", str(concurrency)]
    argv += ["--rpm", "1000000", "--tpm", "1000000000"]
    argv += ["--verbose", "--log-file", str(log), "--log-format", "json"]
    return subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def kill_at_random(proc: subprocess.Popen[bytes], log: Path, rng: random.Random) -> None:
    if rng.random() < 0.2:
        time.sleep(rng.uniform(0.05, 1.0))  # start-up: imports, validation, opening the db
    else:
        target, deadline = rng.randint(1, 40), time.monotonic() + 60
        while len(acknowledged(log)) < target and time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            time.sleep(0.003)
        time.sleep(rng.uniform(0, 0.05))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def acknowledged(log: Path) -> set[str]:
    ids = set()
    if log.exists():
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # cut short by the kill
            if record.get("message", "").startswith("saved "):
                ids.add(record["item_id"])
    return ids


def answered_ids(db: Path) -> set[str]:
    if not db.exists():
        return set()
    try:
        with sqlite3.connect(db) as conn:
            sql = "select item_id from requests where status in ('ok', 'truncated')"
            return {row[0] for row in conn.execute(sql)}
    except sqlite3.OperationalError:
        return set()


def integrity(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("pragma integrity_check").fetchone()[0])


def report(
    figures: Figures,
    rounds: list[Round],
    duplicates: int,
    duplicates_before: int,
    args: argparse.Namespace,
    elapsed: float,
) -> None:
    lost = figures.lost or [0]
    print(
        f"kills:                         {figures.kills} ({figures.mid_run} after answers were "
        f"saved; {len(rounds)} rounds of {args.items} items, concurrency {args.concurrency})\n"
        f"acknowledged answers lost:     {figures.ack_lost}\n"
        f"integrity_check failures:      {figures.corrupt}\n"
        f"answered, not stored, per kill: max {max(lost)}, mean {statistics.mean(lost):.2f} "
        f"(bound: {args.concurrency} in flight; kills over it: {figures.over_bound})\n"
        f"requests sent twice:           {duplicates} (bound: {sum(figures.lost)} answers lost "
        f"at kills; {duplicates_before} before the final runs)\n"
        f"wall time:                     {elapsed:.0f} s"
    )


if __name__ == "__main__":
    sys.exit(main())
