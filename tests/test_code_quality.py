"""The checks CI runs besides the tests: lint, formatting, types and the generated README."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["ruff", "check", "batchbot", "tests", "bench"], id="ruff-check"),
        pytest.param(["ruff", "format", "--check", "batchbot", "tests", "bench"], id="ruff-format"),
        pytest.param(["mypy"], id="mypy-strict"),
        pytest.param(["cog", "--check", "README.md"], id="readme-cog"),
    ],
)
def test_check_passes(command: list[str]) -> None:
    """Each tool passes on the whole tree (run `cog -r README.md` after changing the CLI)."""
    result = subprocess.run(
        [sys.executable, "-m", command[0].replace("cog", "cogapp"), *command[1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
