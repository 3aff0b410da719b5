"""The checks CI runs besides the tests: lint, formatting, types and the generated README."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Tools whose module is not named as their command.
MODULES = {"cog": "cogapp"}


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["ruff", "check", "batchbot", "tests", "bench"], id="ruff-check"),
        pytest.param(["ruff", "format", "--check", "batchbot", "tests", "bench"], id="ruff-format"),
        pytest.param(["mypy"], id="mypy-strict"),
        pytest.param(["cog", "--check", "README.md"], id="readme-cog"),
        pytest.param(["lint-imports"], id="layer-contracts"),
    ],
)
def test_check_passes(command: list[str]) -> None:
    """Each tool passes on the whole tree (run `cog -r README.md` after changing the CLI)."""
    if command[0] == "lint-imports":  # import-linter has no __main__: call its entry point
        argv = ["-c", "from importlinter.cli import lint_imports_command as c; c()", "--no-cache"]
    else:
        argv = ["-m", MODULES.get(command[0], command[0]), *command[1:]]
    result = subprocess.run(
        [sys.executable, *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
