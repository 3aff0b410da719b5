"""Helpers shared by the benchmarks: a fake OpenAI server in its own process, job files."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Limits far above what any client here reaches. Without them the fake server still reports
# tier-5-sized buckets (30,000 RPM), and a client that follows the headers, as batchbot does,
# would be paced to them.
HIGH_LIMITS = ("--rpm", "1000000000", "--tpm", "1000000000000")


@contextlib.contextmanager
def fake_server_process(*args: str) -> Iterator[str]:
    """`batchbot fake-server` in a child process (so it has its own core); yields its /v1 URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchbot", "fake-server", "--port", str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_fake/stats", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def write_jsonl_job(path: Path, items: int, *, model: str = "gpt-4o-mini") -> Path:
    """A job of `items` short distinct questions, as OpenAI Batch API lines."""
    with path.open("w", encoding="utf-8") as out:
        for i in range(items):
            body = {
                "model": model,
                "max_tokens": 40,
                "messages": [{"role": "user", "content": f"Question {i}: what is a token?"}],
            }
            line = {"custom_id": f"q{i}", "method": "POST", "url": "/v1/chat/completions"}
            out.write(json.dumps({**line, "body": body}) + "\n")
    return path
