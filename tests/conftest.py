"""Shared fixtures: one fake OpenAI API for the whole session, reset before each test.

Under CI (CI=true) a skipped test fails the session: CI installs everything every test needs.
"""

from __future__ import annotations

import base64
import os
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from tenacity import wait_none

from batchbot.api import policy
from batchbot.cli import cli
from batchbot.fake.server import FakeServer

# Fixtures kept beside the helpers their tests import (batch mode's in tests/batched.py).
pytest_plugins = ["batched"]


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeServer]:
    """The fake API on 127.0.0.1, serving from its own thread until the session ends."""
    server = FakeServer().start_in_thread()
    yield server
    server.stop()


@pytest.fixture
def fake_api(fake_server: FakeServer) -> FakeServer:
    """The session's fake API with no faults, fresh counters and full rate-limit buckets."""
    fake_server.reset()
    return fake_server


@pytest.fixture(autouse=True)
def isolate_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs in its own directory with no OPENAI_/AZURE_/BATCHBOT_ settings, no backoff
    (a test of the waits passes its own `retry_wait`), and its own state directory: runs of
    other test sessions on this machine share no key."""
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "BATCHBOT_", "AZURE_OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("BATCHBOT_RAISE_ERRORS", "1")
    monkeypatch.setenv("BATCHBOT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(policy, "default_wait", wait_none)


def after_checking(monkeypatch: pytest.MonkeyPatch, then: Callable[[], None]) -> None:
    """`then()` happens just after a run has checked every line, before it sends any."""
    from batchbot.jobs import job as jobs

    validate = jobs.Job.validate

    def checked(self, *args, **kwargs):
        count = validate(self, *args, **kwargs)
        then()
        return count

    monkeypatch.setattr(jobs.Job, "validate", checked)


@pytest.fixture
def write_job(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a file next to the others of this test and return its path."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def invoke() -> Callable[..., Result]:
    """Run the CLI in-process with a test key (key=None: no key at all).

    `run` gets high --rpm/--tpm unless the test gives them: pacing has its own tests, and
    the tier-1 defaults would make every test wait on the clock.
    """

    def run(*args: str, key: str | None = "sk-test") -> Result:
        env = {"OPENAI_API_KEY": key} if key else {}
        argv = list(args)
        if argv[:1] == ["run"]:
            argv += [] if "--rpm" in argv else ["--rpm", "60000"]
            argv += [] if "--tpm" in argv else ["--tpm", "100000000"]
        return CliRunner().invoke(cli, argv, env=env, catch_exceptions=False)

    return run


SKIPPED_UNDER_CI: list[str] = []


def _under_ci() -> bool:
    """Whether this session runs in CI, as CI services say by setting CI=true."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Remember each skipped test (an expected failure is no skip)."""
    if report.skipped and not hasattr(report, "wasxfail"):
        SKIPPED_UNDER_CI.append(report.nodeid)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI, a session that skipped a test fails, even if every test that ran passed."""
    if _under_ci() and SKIPPED_UNDER_CI and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Under CI, name the skipped tests and say why the session fails."""
    if _under_ci() and SKIPPED_UNDER_CI:
        terminalreporter.section("skipped under CI", sep="=", red=True, bold=True)
        terminalreporter.line(
            f"CI=true and {len(SKIPPED_UNDER_CI)} test(s) skipped: CI must run every test; "
            "install what they need (see .ci/run)."
        )
        for nodeid in SKIPPED_UNDER_CI:
            terminalreporter.line(f"SKIPPED {nodeid}")


def image_header(kind: str, width: int, height: int) -> bytes:
    """The first bytes of an image of this size: enough for a header reader, no pixels."""
    if kind == "png":
        ihdr = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        crc = struct.pack(">I", zlib.crc32(ihdr))
        return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr + crc
    if kind == "gif":
        return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00;"
    if kind == "webp":  # the extended format: 24-bit sizes minus one
        sizes = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
        return b"RIFF\x16\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00" + sizes
    if kind == "jpeg":  # an APP0 segment to skip, then a baseline start of frame
        app0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        sof = b"\xff\xc0\x00\x11\x08" + struct.pack(">HH", height, width) + b"\x03" + b"\x00" * 9
        return b"\xff\xd8" + app0 + sof + b"\xff\xd9"
    raise ValueError(kind)


def data_url(width: int, height: int, kind: str = "png") -> str:
    """A data URL holding an image header of this size."""
    encoded = base64.b64encode(image_header(kind, width, height)).decode()
    return f"data:image/{kind};base64,{encoded}"


@pytest.fixture
def image_url() -> Callable[..., str]:
    """`image_url(width, height, kind="png")`: a data URL of an image of that size."""
    return data_url
