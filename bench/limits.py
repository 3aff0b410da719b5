"""How close to the rate limit batchbot runs, and how many 429s it gets, against other clients.

    python bench/limits.py                 # every scenario and the tier-1 workload, ~13 min
    python bench/limits.py --quick         # the sliding-window scenarios, shorter, ~5 min
    python bench/limits.py --seconds 40 --only sliding-rpm,shared-key --no-tier1
    python bench/limits.py --client my_client.py   # also time your own client
    python bench/limits.py --dialect none  # a server with no rate-limit headers (as vLLM)

Each scenario runs batchbot, then a naive baseline - `AsyncOpenAI` with its own retries,
`asyncio.gather` and a semaphore - then any client passed with --client (a file defining
`async def run(base_url: str, bodies: list[dict]) -> tuple[int, int]`, answered and failed),
against the fake OpenAI server in a process of its own on 127.0.0.1, so the server is not
the bottleneck. Each client gets the same items: as many as the scenario's budget allows in
`--seconds` at exactly the limit.

Time is compressed, not faked: limits are real per-minute limits on the server's clock. A
run starts with the server's buckets empty, as in the middle of a long run at the limit,
so nobody gets a minute's worth of requests free at the start. Achieved RPM and TPM are
what the server let through from second 10 to the end of the run, as a share of what the
limits allowed then (after another client's spending, or a lowered limit); tokens as the
server counted them.

The tier-1 workload is different: 2,000 items of mixed sizes at 500 RPM / 200,000 TPM,
buckets that start full, run to the end by batchbot and by a client that paces as OpenAI's
cookbook script does (`_cookbook.py`), side by side against two server processes, once with
per-minute buckets only and once with sliding 1-second windows too; then the naive loop.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import multiprocessing
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import openai
import orjson
from _cookbook import run_cookbook
from _scenarios import SCENARIOS, TIER1, Scenario
from _workloads import MODEL, mixed, question

from batchbot.config import Config
from batchbot.fake.server import serve
from batchbot.jobs.job import load_job
from batchbot.limits.limits import FLAG, PRESET, Limit, RateLimits
from batchbot.limits.tiers import limits_for
from batchbot.logs import NOTICE
from batchbot.run.runner import run_job_async
from batchbot.tokens.count import request_tokens

LATENCY_MS = 250.0  # per answer; short, so the bench stays short, but far from zero
TIER1_LATENCY_MS = 300.0
CONCURRENCY = 50  # every client: 10x what 3,000 RPM at 250 ms needs
MEASURE_FROM_S = 10
TIER1_ITEMS, QUICK_TIER1_ITEMS = 2000, 600
GIVE_UP_S, QUICK_GIVE_UP_S = 600.0, 240.0  # a tier-1 client still going is stopped then

SERVER: dict[str, Any] = {"dialect": "openai"}  # the fake server's header dialect (--dialect)
Client = Callable[[str, list[dict[str, Any]]], Awaitable[tuple[int, int]]]


# -- the server, in its own process -----------------------------------------------------------


def _serve(ready: Any, latency_ms: float) -> None:
    logging.disable(logging.CRITICAL)
    serve(port=0, latency_ms=latency_ms, retry_after_header=True, on_ready=ready.put)


def start_server(latency_ms: float = LATENCY_MS) -> tuple[multiprocessing.process.BaseProcess, str]:
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    process = context.Process(target=_serve, args=(ready, latency_ms), daemon=True)
    process.start()
    return process, str(ready.get(timeout=30))


# -- the clients --------------------------------------------------------------------------------


def told(scenario: Scenario) -> tuple[float, float, str, str]:
    """The limits batchbot is given, the tier, and where the limits came from."""
    if scenario.tier:
        preset = limits_for(scenario.tier, MODEL)
        return preset.rpm, preset.tpm, scenario.tier, PRESET
    rpm, tpm = scenario.cap or (scenario.rpm, scenario.tpm)
    return rpm, tpm, "tier-1", FLAG  # a user who knows the limits and sets them


async def run_batchbot(
    url: str, bodies: list[dict[str, Any]], scenario: Scenario
) -> tuple[int, int]:
    rpm, tpm, tier, source = told(scenario)
    with tempfile.TemporaryDirectory() as tmp:
        path = _write_jsonl(Path(tmp, "bench.jsonl"), bodies)
        config = Config(
            db_path=Path(tmp, "bench.db"),
            api_key="sk-bench",
            base_url=url,
            model=MODEL,
            tier=tier,
            limits=RateLimits(Limit(rpm, source), Limit(tpm, source)),
            concurrency=CONCURRENCY,
        )
        summary = await run_job_async(load_job(path), config, handle_signals=False)
    return summary.answered, summary.failed


async def run_batchbot_process(
    url: str, bodies: list[dict[str, Any]], scenario: Scenario
) -> tuple[int, int]:
    """`batchbot run` in a process of its own, as cron starts it: (answered, failed)."""
    rpm, tpm, tier, _ = told(scenario)
    with tempfile.TemporaryDirectory() as tmp:
        job, db = _write_jsonl(Path(tmp, "bench.jsonl"), bodies), Path(tmp, "bench.db")
        argv = [sys.executable, "-m", "batchbot", "run", str(job), "--base-url", url, "--quiet"]
        argv += ["--db", str(db), "--tier", tier, "--rpm", str(rpm), "--tpm", str(tpm)]
        argv += ["--concurrency", str(CONCURRENCY)]
        env = {**os.environ, "OPENAI_API_KEY": "sk-bench"}
        run = await asyncio.create_subprocess_exec(*argv, env=env)
        await run.wait()
        with sqlite3.connect(db) as conn:
            counts = dict(conn.execute("select status, count(*) from requests group by status"))
    return counts.get("ok", 0) + counts.get("truncated", 0), counts.get("failed", 0)


def overlapping(client: Client, scenario: Scenario) -> Client:
    """`scenario.runs` runs of `client` on the key, each with its share of the items, each
    started `scenario.after_s` after the one before."""

    async def runs(url: str, bodies: list[dict[str, Any]]) -> tuple[int, int]:
        async def one(number: int) -> tuple[int, int]:
            await asyncio.sleep(number * scenario.after_s)
            return await client(url, bodies[number :: scenario.runs])

        results = await asyncio.gather(*(one(n) for n in range(scenario.runs)))
        return sum(a for a, _ in results), sum(f for _, f in results)

    return runs


def _write_jsonl(path: Path, bodies: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps(body) for body in bodies))
    return path


async def run_naive(url: str, bodies: list[dict[str, Any]]) -> tuple[int, int]:
    """What a user writes first: gather everything behind a semaphore, let openai retry."""
    client = openai.AsyncOpenAI(base_url=url, api_key="sk-bench")  # max_retries=2, its default
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def one(body: dict[str, Any]) -> bool:
        async with semaphore:
            try:
                await client.chat.completions.create(**body)
            except openai.APIError:
                return False
            return True

    async with client:
        results = await asyncio.gather(*(one(body) for body in bodies))
    return sum(results), len(results) - sum(results)


def load_client(path: str) -> Client:
    spec = importlib.util.spec_from_file_location("bench_client", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.run  # type: ignore[no-any-return]


# -- one run ------------------------------------------------------------------------------------


@dataclass
class Result:
    scenario: str
    client: str
    rpm_pct: float | None
    tpm_pct: float | None
    binding: str
    requests: int
    rate_limited: int
    duplicates: int
    answered: int
    failed: int
    wall_s: float
    notes: list[str] = field(default_factory=list)


def bodies_for(scenario: Scenario, seconds: float) -> list[dict[str, Any]]:
    """As many distinct items as the scenario's budget allows in `seconds` at the limit (for
    each of its runs), or the number it says."""
    if scenario.items:
        return [question(i, scenario.max_tokens) for i in range(scenario.items)]
    if scenario.workload == "mixed":
        sample = mixed(200)
        per_request = sum(request_tokens(body) for body in sample) / len(sample)
    else:
        per_request = request_tokens(question(0, scenario.max_tokens))
    count = 0.0
    for second in range(int(seconds)):
        rpm, tpm = scenario.limits_at(second)
        count += min(rpm, tpm / per_request) / 60 * scenario.runs
    if scenario.workload == "mixed":
        return mixed(round(count))
    return [question(i, scenario.max_tokens) for i in range(round(count))]


async def control(http: aiohttp.ClientSession, base: str, route: str, data: Any = None) -> Any:
    method = http.get if data is None else http.post
    async with method(f"{base}/_fake/{route}", json=data) as response:
        response.raise_for_status()
        return await response.json()


async def other_client(
    http: aiohttp.ClientSession, base: str, scenario: Scenario, per_request: int
) -> None:
    """Spend `other_share` of the key's requests (and their tokens), ten times a second."""
    started, spent = time.monotonic(), 0
    while True:
        await asyncio.sleep(0.1)
        due = int((time.monotonic() - started) * scenario.rpm * scenario.other_share / 60) - spent
        if due > 0:
            await control(http, base, "spend", {"requests": due, "tokens": due * per_request})
            spent += due


async def drop_limits(http: aiohttp.ClientSession, base: str, scenario: Scenario) -> None:
    await asyncio.sleep(scenario.drop_at_s or 0.0)
    rpm, tpm = scenario.drop_to or (scenario.rpm, scenario.tpm)
    await control(http, base, "limits", {"rpm": rpm, "tpm": tpm, "keep_usage": True})


async def run_one(
    url: str,
    scenario: Scenario,
    client_name: str,
    client: Client,
    bodies: list[dict[str, Any]],
) -> Result:
    base = url.removesuffix("/v1")
    per_request = request_tokens(bodies[0])
    notes: list[str] = []
    async with aiohttp.ClientSession() as http:
        await control(http, base, "reset", {})
        limits: dict[str, Any] = {
            "rpm": scenario.rpm,
            "tpm": scenario.tpm,
            "window_s": scenario.window_s,
            "windows": scenario.windows,
            "sliding_s": 1.0,
            "count": scenario.count,
        }
        limits |= SERVER
        if scenario.reported:
            limits |= {"reported_rpm": scenario.reported[0], "reported_tpm": scenario.reported[1]}
        await control(http, base, "limits", limits)
        if not scenario.start_full:  # as in the middle of a long run at the limit
            await control(http, base, "spend", {"requests": scenario.rpm, "tokens": scenario.tpm})
        events = []
        if scenario.other_share:
            events.append(asyncio.create_task(other_client(http, base, scenario, per_request)))
        if scenario.drop_at_s is not None:
            events.append(asyncio.create_task(drop_limits(http, base, scenario)))
        started = time.monotonic()
        collect = _NoteCollector(notes, started)
        logging.getLogger("batchbot").addHandler(collect)
        try:
            answered, failed = await client(url, bodies)
        finally:
            logging.getLogger("batchbot").removeHandler(collect)
            wall = time.monotonic() - started
            for event in events:
                event.cancel()
        stats = await control(http, base, "stats")
        timeline = await control(http, base, "timeline")
    return _result(scenario, client_name, stats, timeline, wall, answered, failed, notes)


class _NoteCollector(logging.Handler):
    """Warnings, and the notices a run prints (limits learned, the server's count)."""

    def __init__(self, notes: list[str], started: float) -> None:
        super().__init__(logging.INFO)
        self.notes, self.started = notes, started

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < logging.WARNING and not getattr(record, NOTICE, False):
            return
        self.notes.append(f"{time.monotonic() - self.started:.1f} s: {record.getMessage()}")


def _result(
    scenario: Scenario,
    client: str,
    stats: dict[str, Any],
    timeline: list[list[int]],
    wall: float,
    answered: int,
    failed: int,
    notes: list[str],
) -> Result:
    # Whole seconds from MEASURE_FROM_S up to the last one, in which the run trailed off; a
    # run too short for that (a client that gave up early) is measured whole, and marked.
    end = len(timeline) - 1
    short = end < MEASURE_FROM_S + 2
    window = range(0 if short else MEASURE_FROM_S, end)
    got_requests = sum(timeline[s][0] for s in window)
    got_tokens = sum(timeline[s][1] for s in window)
    allowed = [scenario.limits_at(s) for s in window]
    allowed_rpm = sum(rpm for rpm, _ in allowed) / 60
    allowed_tpm = sum(tpm for _, tpm in allowed) / 60
    per_request = got_tokens / got_requests if got_requests else 0
    binding = "RPM" if scenario.rpm * per_request <= scenario.tpm or not per_request else "TPM"
    if scenario.cap is not None:
        notes.append(_busiest(timeline, scenario.cap[0]))
    return Result(
        scenario=scenario.name,
        client=client + (" *" if short else ""),
        rpm_pct=100 * got_requests / allowed_rpm if window else None,
        tpm_pct=100 * got_tokens / allowed_tpm if window else None,
        binding=binding,
        requests=stats["requests"],
        rate_limited=stats["by_status"].get("429", 0),
        duplicates=stats["duplicates"],
        answered=answered,
        failed=failed,
        wall_s=wall,
        notes=notes,
    )


def _busiest(timeline: list[list[int]], cap: int) -> str:
    """The most requests the server let through in any whole second and any 60 of them."""
    per_second = [requests for requests, _ in timeline]
    minute = max(sum(per_second[s : s + 60]) for s in range(max(1, len(per_second) - 59)))
    return (
        f"busiest second {max(per_second, default=0)} (cap {cap / 60:g}), "
        f"busiest minute {minute} (cap {cap})"
    )


# -- the table ----------------------------------------------------------------------------------


def table(results: list[Result]) -> str:
    lines = [
        "| scenario | client | RPM % | TPM % | 429s (share) | duplicates | answered / failed "
        "| wall |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        rpm = _pct(r.rpm_pct, bold=r.binding == "RPM")
        tpm = _pct(r.tpm_pct, bold=r.binding == "TPM")
        share = 100 * r.rate_limited / r.requests if r.requests else 0.0
        lines.append(
            f"| {r.scenario} | {r.client} | {rpm} | {tpm} | {r.rate_limited:,} ({share:.1f} %) "
            f"| {r.duplicates} | {r.answered:,} / {r.failed:,} | {r.wall_s:.1f} s |"
        )
    return "\n".join(lines)


def _pct(value: float | None, *, bold: bool) -> str:
    if value is None:
        return "n/a"
    text = f"{value:.1f}"
    return f"**{text}**" if bold else text


async def bench(
    url: str, scenarios: list[Scenario], clients: dict[str, Any], seconds: float
) -> list[Result]:
    results = []
    for scenario in scenarios:
        bodies = bodies_for(scenario, seconds)
        for name, client in clients.items():
            if name == "batchbot":
                runner = run_batchbot_process if scenario.runs > 1 else run_batchbot
                client = _bind(runner, scenario)
            if scenario.runs > 1:
                client = overlapping(client, scenario)
            results.append(_say(await run_one(url, scenario, name, client, bodies)))
    return results


async def bench_tier1(urls: list[str], items: int) -> list[Result]:
    """batchbot and the cookbook-style client side by side under both server styles, each
    against a server of its own; then the naive loop, which is over in seconds."""
    bodies = mixed(items)
    runs = []
    for scenario, (ours, theirs) in zip(TIER1, (urls[:2], urls[2:]), strict=True):
        cookbook = _bind(_cookbook_at_the_limits, scenario)
        runs.append(run_one(ours, scenario, "batchbot", _bind(run_batchbot, scenario), bodies))
        runs.append(run_one(theirs, scenario, "cookbook", cookbook, bodies))
    results = [_say(result) for result in await asyncio.gather(*runs)]
    for scenario, url in zip(TIER1, urls[::2], strict=True):
        results.append(_say(await run_one(url, scenario, "naive", run_naive, bodies)))
    return results


async def _cookbook_at_the_limits(
    url: str, bodies: list[dict[str, Any]], scenario: Scenario
) -> tuple[int, int]:
    """The cookbook script as its user would set it: to the tier's limits."""
    give_up_s = GIVE_UP_S if len(bodies) >= TIER1_ITEMS else QUICK_GIVE_UP_S
    return await run_cookbook(url, bodies, scenario.rpm, scenario.tpm, give_up_s=give_up_s)


def _say(result: Result) -> Result:
    print(
        f"{result.scenario:>18} {result.client:>10}: {result.answered:,} answered, "
        f"{result.rate_limited:,} 429s, {result.wall_s:.1f} s",
        file=sys.stderr,
        flush=True,
    )
    for note in result.notes:
        print(f"{'':>30}{note}", file=sys.stderr)
    return result


def _bind(run: Callable[..., Awaitable[tuple[int, int]]], scenario: Scenario) -> Client:
    async def client(url: str, bodies: list[dict[str, Any]]) -> tuple[int, int]:
        return await run(url, bodies, scenario)

    return client


async def _nothing() -> list[Result]:
    return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, help="length of each run at the limit (20; 15)")
    parser.add_argument("--quick", action="store_true", help="sliding scenarios, 600 tier-1 items")
    parser.add_argument("--only", help="comma-separated scenario names")
    parser.add_argument("--no-tier1", action="store_true", help="skip the tier-1 workload")
    parser.add_argument("--client", action="append", default=[], help="another client's .py file")
    parser.add_argument(
        "--dialect",
        choices=("openai", "none"),
        default="openai",
        help="none: no rate-limit headers",
    )
    args = parser.parse_args()
    SERVER["dialect"] = args.dialect
    # Runs on one key tell each other through files: the benchmark's own, in a fresh place.
    state = tempfile.TemporaryDirectory()
    os.environ["BATCHBOT_STATE_DIR"] = state.name
    seconds = args.seconds or (15.0 if args.quick else 20.0)
    scenarios = [s for s in SCENARIOS if s.quick or not args.quick]
    if args.only:
        scenarios = [s for s in SCENARIOS if s.name in set(args.only.split(","))]
    clients: dict[str, Any] = {"batchbot": None, "naive": run_naive}
    for path in args.client:
        clients[Path(path).stem] = load_client(path)
    items = QUICK_TIER1_ITEMS if args.quick else TIER1_ITEMS
    started = time.monotonic()
    results, tier1 = asyncio.run(_run_all(scenarios, clients, seconds, items, not args.no_tier1))
    print(
        f"\n{len(scenarios)} scenarios, {seconds:.0f} s each at the limit, "
        f"{LATENCY_MS:.0f} ms per answer, concurrency {CONCURRENCY}; "
        f"RPM/TPM % from second {MEASURE_FROM_S} (* whole run: it ended sooner), "
        "binding limit in bold.\n"
    )
    for scenario in scenarios:
        print(f"- {scenario.name}: {scenario.note}")
    print()
    print(table(results))
    if tier1:
        print(f"\nTier-1 workload: {items:,} items, {TIER1_LATENCY_MS:.0f} ms per answer.\n")
        for scenario in TIER1:
            print(f"- {scenario.name}: {scenario.note}")
        print()
        print(table(tier1))
    print(f"\n(whole benchmark: {time.monotonic() - started:.0f} s)")


async def _run_all(
    scenarios: list[Scenario], clients: dict[str, Any], seconds: float, items: int, tier1: bool
) -> tuple[list[Result], list[Result]]:
    servers = [start_server() for _ in range(1 if scenarios else 0)]
    servers += [start_server(TIER1_LATENCY_MS) for _ in range(4 if tier1 else 0)]
    urls = [url for _, url in servers]
    try:
        # Side by side: the tier-1 clients are light (8 requests a second), and one after
        # the other would take twice as long.
        uniform = bench(urls[0], scenarios, clients, seconds) if scenarios else _nothing()
        tier_1 = bench_tier1(urls[-4:], items) if tier1 else _nothing()
        results, tier1_results = await asyncio.gather(uniform, tier_1)
        return results, tier1_results
    finally:
        for process, _ in servers:
            process.terminate()
            process.join()


if __name__ == "__main__":
    main()
