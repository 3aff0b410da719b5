"""The checks CI runs besides the tests: lint, formatting, types, layers and the generated docs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Tools whose module is not named as their command.
MODULES = {"cog": "cogapp"}
# The pages with generated parts (cog blocks): the CLI reference, the schema, ...
COGGED = [
    str(page.relative_to(ROOT))
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    if "[[[cog" in page.read_text(encoding="utf-8")
]


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["ruff", "check", "batchbot", "tests", "bench"], id="ruff-check"),
        pytest.param(["ruff", "format", "--check", "batchbot", "tests", "bench"], id="ruff-format"),
        pytest.param(["mypy"], id="mypy-strict"),
        pytest.param(["cog", "--check", *COGGED], id="docs-cog"),
        pytest.param(["lint-imports"], id="layer-contracts"),
    ],
)
def test_check_passes(command: list[str]) -> None:
    """Each tool passes on the whole tree (run `cog -r docs/*.md` after a CLI or schema change)."""
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
