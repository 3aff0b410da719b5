"""batchbot behind a gateway: LiteLLM's proxy beside the fake server's header dialects.

    python bench/gateway.py                       # everything, about 20 minutes
    python bench/gateway.py --only litellm        # or fixed-minute,openai,none,azure-10s
    python bench/gateway.py --litellm-venv DIR    # reuse a venv that has litellm[proxy]

Each server is configured like the gateway of the issue: one model, gpt-4o-mini, at 600 RPM
and 100,000 TPM, answering in tens of milliseconds. batchbot runs a 600-item job
(`max_tokens: 60`), told those limits as a user would (`--rpm 600 --tpm 100000`), twice:
`fresh` (the server's minute unused) and `part-used` (another client sent 200 requests in
the same minute first). Minutes turn with the wall clock, so fixed-minute servers start each
run just after one turns. The baseline, `blind` (fixed-minute servers only), is batchbot
reading every server's headers as OpenAI's refilling buckets, as it did before it learned
dialects, stopped after a minute.

LiteLLM's proxy is installed on demand into a venv of its own (under the user's cache dir),
given a `mock_response`, started on 127.0.0.1 on a free port and stopped at the end; if it
cannot be installed or started, it is skipped with the reason. The fake server runs in a
process of its own. Nothing leaves the machine but the one `pip install`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing
import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock

import aiohttp
import openai
import orjson

from batchbot.config import Config
from batchbot.fake.server import serve
from batchbot.jobs.job import load_job
from batchbot.limits.limits import RateLimits
from batchbot.pace import dialect
from batchbot.run.runner import run_job_async

MODEL = "gpt-4o-mini"
RPM, TPM = 600, 100_000
ITEMS, OTHERS = 600, 200
BLIND_S = 60.0
FAKES: dict[str, dict[str, Any]] = {  # name: the fake server's settings beside rpm/tpm
    "fixed-minute": {"dialect": "fixed-minute"},
    "openai": {"dialect": "openai"},
    "none": {"dialect": "none"},
    "azure-10s": {"dialect": "openai", "windows": "sliding", "sliding_s": 10},
}
FIXED = {"litellm", "fixed-minute"}  # servers whose counts turn with the wall-clock minute
LITELLM_CONFIG = """\
model_list:
  - model_name: {model}
    litellm_params:
      model: openai/{model}
      api_key: sk-unused
      mock_response: "A short answer from the mock."
      rpm: {rpm}
      tpm: {tpm}
general_settings:
  master_key: {key}
"""


@dataclass
class Result:
    server: str
    start: str
    client: str
    answered: int = 0
    wall_s: float = 0.0
    first_minute: tuple[int, int] = (0, 0)  # ours, what was left for us
    rate_limited: int = 0
    lowest_remaining: int | None = None
    cost_usd: float | None = None  # batchbot's recorded cost per answered request
    notes: list[str] = field(default_factory=list)
    skipped: str = ""


# -- the servers ----------------------------------------------------------------------------


def _serve_fake(ready: Any) -> None:
    logging.disable(logging.CRITICAL)
    serve(port=0, latency_ms=30.0, retry_after_header=True, on_ready=ready.put)


def start_fake() -> tuple[multiprocessing.process.BaseProcess, str]:
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    process = context.Process(target=_serve_fake, args=(ready,), daemon=True)
    process.start()
    return process, str(ready.get(timeout=30))


def litellm_venv(path: Path) -> Path:
    """A venv with litellm[proxy] at `path`, installing it the first time (timed)."""
    proxy = path / "bin" / "litellm"
    if proxy.exists():
        return proxy
    started = time.monotonic()
    print(f"installing litellm[proxy] into {path.name} (once) ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    pip = [str(path / "bin" / "python"), "-m", "pip", "install", "-q", "litellm[proxy]"]
    subprocess.run(pip, check=True, timeout=900, stdout=subprocess.DEVNULL)
    print(f"installed in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return proxy


def start_litellm(proxy: Path, workdir: Path, key: str) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = workdir / "litellm.yaml"
    config.write_text(LITELLM_CONFIG.format(model=MODEL, rpm=RPM, tpm=TPM, key=key))
    log = (workdir / "litellm.log").open("wb")
    command = [str(proxy), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    base = f"http://127.0.0.1:{port}"
    for _ in range(240):
        if process.poll() is not None:
            raise RuntimeError(f"the proxy exited at start; see the end of {log.name}")
        try:
            with urllib.request.urlopen(f"{base}/health/liveliness", timeout=1):
                return process, f"{base}/v1"
        except OSError:
            time.sleep(0.5)
    process.terminate()
    raise RuntimeError("the proxy did not answer within 120 s")


# -- one run --------------------------------------------------------------------------------


def bodies() -> list[dict[str, Any]]:
    return [
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": f"Question {i}: a short FAQ answer."}],
            "max_tokens": 60,
        }
        for i in range(ITEMS)
    ]


async def other_client(url: str, key: str) -> None:
    """Another program on the same gateway: OTHERS requests, 20 at a time."""
    client = openai.AsyncOpenAI(base_url=url, api_key=key, max_retries=0)
    semaphore = asyncio.Semaphore(20)

    async def one(i: int) -> None:
        async with semaphore:
            messages: Any = [{"role": "user", "content": f"Other {i}"}]
            await client.chat.completions.create(model=MODEL, messages=messages, max_tokens=5)

    async with client:
        await asyncio.gather(*(one(i) for i in range(OTHERS)), return_exceptions=True)


async def next_minute() -> None:
    """Sleep until just after the wall clock's minute turns."""
    await asyncio.sleep(60 - time.time() % 60 + 0.3)


def blind_infer(self: dialect.HeaderReader, headers: Any) -> str | None:
    """Every server read as OpenAI's, as before dialects (the baseline)."""
    if headers.remaining_requests is not None or headers.remaining_tokens is not None:
        return dialect.OPENAI
    return None


async def run_once(server: str, url: str, key: str, start: str, client: str) -> Result:
    result = Result(server, start, client)
    if server in FIXED:
        await next_minute()
    if start == "part-used":
        await other_client(url, key)
    with tempfile.TemporaryDirectory() as tmp:
        job = _write_job(Path(tmp, "gateway.jsonl"))
        config = Config(
            db_path=Path(tmp, "bench.db"),
            api_key=key,
            base_url=url,
            model=MODEL,
            limits=RateLimits.set_by_user(rpm=RPM, tpm=TPM),  # as --rpm and --tpm
            concurrency=50,
        )
        notes = _Notes(result.notes)
        logging.getLogger("batchbot").addHandler(notes)
        started = time.time()
        try:
            with _reading(client):
                run = run_job_async(load_job(job), config, handle_signals=False)
                await asyncio.wait_for(run, BLIND_S if client == "blind" else None)
        except TimeoutError:
            result.notes.append(f"stopped after {BLIND_S:.0f} s")
        finally:
            logging.getLogger("batchbot").removeHandler(notes)
        _measure(result, Path(tmp, "bench.db"), started, OTHERS if start == "part-used" else 0)
    return result


def _write_job(path: Path) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps(body) for body in bodies()))
    return path


def _reading(client: str) -> contextlib.AbstractContextManager[Any]:
    """How the run reads headers: in the dialect seen, or (the baseline) all as OpenAI's."""
    if client == "blind":
        return mock.patch.object(dialect.HeaderReader, "_infer", blind_infer)
    return contextlib.nullcontext()


class _Notes(logging.Handler):
    def __init__(self, notes: list[str]) -> None:
        super().__init__(logging.INFO)
        self.notes = notes

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith(("server ", "limits from server", "the server counts")):
            self.notes.append(message)


def _measure(result: Result, db: Path, started: float, others: int) -> None:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("select started_at, status_code, ratelimit from attempts").fetchall()
        (result.cost_usd,) = conn.execute(
            "select avg(cost_usd) from requests where status = 'ok'"
        ).fetchone()
    times = [datetime.fromisoformat(at).timestamp() for at, status, _ in rows if status == 200]
    result.answered = len(times)
    result.wall_s = (max(times) - started) if times else 0.0
    result.rate_limited = sum(1 for _, status, _ in rows if status == 429)
    minutes = Counter(int(t // 60) for t in times)
    first = int(started // 60)
    result.first_minute = (minutes.get(first, 0), RPM - others)
    remaining = [
        int(float(value))
        for _, _, headers in rows
        if headers and (value := orjson.loads(headers).get("x-ratelimit-remaining-requests"))
    ]
    result.lowest_remaining = min(remaining) if remaining else None


# -- the table ------------------------------------------------------------------------------


def table(results: list[Result]) -> str:
    lines = [
        "| server | start | client | answered | wall | RPM (% of 600) | first minute: ours / left "
        "| 429s | lowest remaining |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        if r.skipped:
            lines.append(f"| {r.server} | skipped: {r.skipped} | | | | | | | |")
            continue
        rpm = r.answered / r.wall_s * 60 if r.wall_s else 0.0
        ours, left = r.first_minute
        # Only a fixed-minute server's run starts as a minute turns; elsewhere it is any second.
        first = f"{ours} / {left} ({100 * ours / left:.0f} %)" if r.server in FIXED else "n/a"
        lowest = "n/a" if r.lowest_remaining is None else str(r.lowest_remaining)
        lines.append(
            f"| {r.server} | {r.start} | {r.client} | {r.answered} | {r.wall_s:.1f} s "
            f"| {rpm:.0f} ({100 * rpm / RPM:.0f} %) | {first} | {r.rate_limited} | {lowest} |"
        )
    return "\n".join(lines)


async def bench_server(server: str, url: str, key: str, blind: bool) -> list[Result]:
    results = []
    plan = [("fresh", "batchbot"), ("part-used", "batchbot")]
    if blind:
        plan.append(("fresh", "blind"))
    for start, client in plan:
        if server in FAKES:
            await _set_fake(url, FAKES[server])
        result = await run_once(server, url, key, start, client)
        print(
            f"{server:>12} {start:>9} {client:>8}: {result.answered} answered, "
            f"{result.rate_limited} 429s, {result.wall_s:.1f} s {result.notes}",
            file=sys.stderr,
        )
        results.append(result)
    return results


async def _set_fake(url: str, settings: dict[str, Any]) -> None:
    base = url.removesuffix("/v1")
    async with aiohttp.ClientSession() as http:
        for route, data in (("reset", {}), ("limits", {"rpm": RPM, "tpm": TPM, **settings})):
            async with http.post(f"{base}/_fake/{route}", json=data) as response:
                response.raise_for_status()


async def cost_check(url: str, key: str, recorded: float | None) -> str:
    """LiteLLM's x-litellm-response-cost for one item beside what batchbot recorded."""
    async with openai.AsyncOpenAI(base_url=url, api_key=key, max_retries=0) as client:
        raw = await client.chat.completions.with_raw_response.create(**bodies()[0])
    theirs = raw.headers.get("x-litellm-response-cost")
    return f"cost per request: LiteLLM says ${theirs}, batchbot recorded ${recorded:.8f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated: litellm," + ",".join(FAKES))
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    parser.add_argument("--litellm-venv", type=Path, default=cache / "batchbot-bench" / "litellm")
    parser.add_argument("--no-blind", action="store_true", help="skip the baseline runs")
    args = parser.parse_args()
    wanted = args.only.split(",") if args.only else ["litellm", *FAKES]
    logging.getLogger("batchbot").setLevel(logging.INFO)
    results: list[Result] = []
    notes: list[str] = []
    if "litellm" in wanted:
        results += bench_litellm(args.litellm_venv, not args.no_blind, notes)
    fakes = [name for name in wanted if name in FAKES]
    if fakes:
        process, url = start_fake()
        try:
            for name in fakes:
                blind = not args.no_blind and name in FIXED
                results += asyncio.run(bench_server(name, url, "sk-bench", blind))
        finally:
            process.terminate()
            process.join()
    print(
        f"\n{ITEMS} items (max_tokens 60) at {RPM} RPM / {TPM:,} TPM, concurrency 50; "
        f"part-used: {OTHERS} requests by another client first; blind: stopped after "
        f"{BLIND_S:.0f} s.\n"
    )
    print(table(results))
    for note in notes:
        print(f"\n{note}")
    for r in results:
        for line in r.notes:
            print(f"- {r.server} {r.start} {r.client}: {line}")


def bench_litellm(venv: Path, blind: bool, notes: list[str]) -> list[Result]:
    try:
        proxy = litellm_venv(venv)
    except (OSError, subprocess.SubprocessError) as exc:
        return [Result("litellm", "", "", skipped=f"cannot install litellm[proxy]: {exc}")]
    key = f"sk-{secrets.token_hex(16)}"
    with tempfile.TemporaryDirectory() as tmp:
        try:
            process, url = start_litellm(proxy, Path(tmp), key)
        except (OSError, RuntimeError) as exc:
            return [Result("litellm", "", "", skipped=str(exc))]
        try:
            results = asyncio.run(bench_server("litellm", url, key, blind))
            notes.append(asyncio.run(cost_check(url, key, results[0].cost_usd or 0.0)))
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
    return results


if __name__ == "__main__":
    main()
