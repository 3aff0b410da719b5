"""Under CI=true a skipped test fails the session, so CI cannot quietly leave a test out."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = Path(__file__).resolve().parent / "conftest.py"
TESTS = """
import pytest

def test_runs():
    pass

@pytest.mark.skip(reason="needs something this machine lacks")
def test_needs_something():
    pass

@pytest.mark.xfail(reason="a known bug")
def test_known_bug():
    assert False
"""


def _pytest(directory: Path, ci: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    """Run pytest on `directory` in a child process, with CI set to `ci` (None: unset)."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args, str(directory)],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    """A tiny suite with this project's conftest: one test passes, one skips, one is xfail."""
    shutil.copy(CONFTEST, tmp_path / "conftest.py")
    shutil.copy(CONFTEST.parent / "batched.py", tmp_path)  # its pytest_plugins
    (tmp_path / "test_some.py").write_text(TESTS, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "two-workers"])
def test_skip_fails_under_ci(suite: Path, workers: list[str]) -> None:
    """With CI=true the session exits 1 and names the skipped test, not the xfail, also when
    the tests run in workers (pytest-xdist) and the skip is reported from one of them."""
    result = _pytest(suite, "true", *workers)
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout + result.stderr
    assert "SKIPPED test_some.py::test_needs_something" in result.stdout
    assert "test_known_bug" not in result.stdout.split("skipped under CI")[1]


def test_skip_allowed_outside_ci(suite: Path) -> None:
    """Without CI the same session passes, the skip reported as usual."""
    result = _pytest(suite, ci=None)
    assert result.returncode == pytest.ExitCode.OK, result.stdout + result.stderr
    assert "1 skipped" in result.stdout
    assert "skipped under CI" not in result.stdout
