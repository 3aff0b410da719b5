"""The README documents every command and every option, and its commands work."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from batchbot import __version__
from batchbot.cli import cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
CI_RUN = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_documented(name: str) -> None:
    """Each command has its --help in the README's CLI reference."""
    assert f"### `batchbot {name} --help`" in README


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (name, opt)
        for name, command in cli.commands.items()
        for param in command.params
        if isinstance(param, click.Option)
        for opt in param.opts
        if opt.startswith("--")
    ],
)
def test_every_option_documented(command: str, option: str) -> None:
    """Each long option appears in the README."""
    assert option in README


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run calls exactly the test command the README gives users."""
    commands = re.findall(r"^python3 -m venv .*pytest$", README, flags=re.MULTILINE)
    assert len(commands) == 1
    assert commands[0] in CI_RUN


def test_version_option() -> None:
    """batchbot --version prints the package version."""
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output
