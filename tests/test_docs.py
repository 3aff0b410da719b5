"""The docs cover every command and option, their links resolve, CI runs their test command."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from batchbot import __version__, errors
from batchbot.cli import cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
CI_RUN = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CLI_REFERENCE = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
LIBRARY = (ROOT / "docs" / "library.md").read_text(encoding="utf-8")
# What the pages say in prose: everything but the generated --help reference.
PROSE = "".join(page.read_text(encoding="utf-8") for page in PAGES if page.name != "cli.md")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_documented(name: str) -> None:
    """Each command has its --help in docs/cli.md (add it to the cog block's list there)."""
    assert f"## `batchbot {name} --help`" in CLI_REFERENCE


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (name, opt)
        for name, command in cli.commands.items()
        for param in command.params
        if isinstance(param, click.Option)
        for opt in param.opts
        if opt.startswith("--") and opt != "--help"
    ],
)
def test_every_option_documented(command: str, option: str) -> None:
    """Each long option is explained on a page, not only in the generated --help reference."""
    assert option in PROSE, f"say what `batchbot {command} {option}` does on a page in docs/"


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run calls exactly the test command the README gives users."""
    commands = re.findall(r"^python3 -m venv .*pytest$", README, flags=re.MULTILINE)
    assert len(commands) == 1
    assert re.search(rf"^{re.escape(commands[0])}$", CI_RUN, flags=re.MULTILINE)


def test_readme_stays_short() -> None:
    """The README fits on about three screens; the manual lives in docs/."""
    lines = README.count("\n")
    assert lines <= 150, f"README.md has {lines} lines: move the detail to a page in docs/"


def test_version_option() -> None:
    """batchbot --version prints the package version."""
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def _without_fences(text: str) -> str:
    """The markdown text without its fenced code blocks (a `# comment` there is no heading)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)


def _outside_code(text: str) -> str:
    """The markdown text without its fenced code blocks and inline code spans."""
    return re.sub(r"`[^`\n]*`", "", _without_fences(text))


def _anchors(text: str) -> set[str]:
    """The anchors GitHub gives a page's headings: lowercased, punctuation dropped, spaces to -."""
    seen: dict[str, int] = {}
    anchors = set()
    for heading in re.findall(r"^#{1,6} (.+)$", _without_fences(text), flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _relative_links() -> list[tuple[str, str]]:
    """(page, target) for every link in README.md and docs/*.md that is not to another site."""
    return [
        (str(page.relative_to(ROOT)), target)
        for page in PAGES
        for target in LINK.findall(_outside_code(page.read_text(encoding="utf-8")))
        if not re.match(r"[a-z]+:", target)
    ]


@pytest.mark.parametrize(("page", "target"), _relative_links())
def test_relative_link_resolves(page: str, target: str) -> None:
    """Each relative link points to an existing file, and its #anchor to a heading there."""
    path, _, anchor = target.partition("#")
    linked = (ROOT / page).parent / path if path else ROOT / page
    assert linked.is_file(), f"{page}: {target}: no such file"
    if anchor:
        assert anchor in _anchors(linked.read_text(encoding="utf-8")), (
            f"{page}: {target}: no such heading"
        )


def _stops() -> list[str]:
    """The reasons a run stops early: every subclass of RunStopped, however deep."""
    found = [errors.RunStopped]
    for kind in found:
        found.extend(kind.__subclasses__())
    return sorted(kind.__name__ for kind in found[1:])


@pytest.mark.parametrize("name", _stops())
def test_every_reason_a_run_stops_is_documented(name: str) -> None:
    """errors.py's tree draws each RunStopped, and docs/library.md names it among what
    `RunSummary.stopped` may be (a subclass may go under its parent's name there)."""
    assert re.search(rf"── {name} ", errors.__doc__ or ""), f"draw {name} in errors.py's tree"
    kind = getattr(errors, name)
    names = [k.__name__ for k in kind.__mro__ if issubclass(k, errors.RunStopped)][:-1]
    assert any(f"`{known}`" in LIBRARY for known in names), f"name {name} in docs/library.md"


def test_index_lists_every_page() -> None:
    """The README links docs/index.md, and the index links every other page in docs/."""
    links = _relative_links()
    assert ("README.md", "docs/index.md") in links
    listed = {target.partition("#")[0] for page, target in links if page == "docs/index.md"}
    pages = {page.name for page in PAGES if page.parent == ROOT / "docs"} - {"index.md"}
    assert pages - listed == set(), "add these pages to the table in docs/index.md"


def test_architecture_names_only_modules_that_exist() -> None:
    """Every module and part docs/architecture.md names (`sync/dispatch.py`, `pace/`) exists,
    and every part of the package is named there."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    paths = re.findall(r"`([a-z_]+/(?:[a-z_]+\.py)?|[a-z_]+\.py)`", text)
    named = {path for path in paths if path.split("/")[0] not in ("batchbot", "tests")}
    package = ROOT / "batchbot"
    missing = sorted(name for name in named if not (package / name).exists())
    assert not missing, f"docs/architecture.md names what batchbot/ does not have: {missing}"
    parts = {
        f"{path.name}/" if path.is_dir() else path.name
        for path in package.iterdir()
        if (path.is_dir() and (path / "__init__.py").exists())
        or (path.suffix == ".py" and path.name not in ("__init__.py", "__main__.py"))
    }
    assert not parts - named, f"parts docs/architecture.md leaves out: {sorted(parts - named)}"


def test_the_code_cites_only_documents_the_repository_has() -> None:
    """A docstring or comment that names a document (docs/limits.md) names one that exists."""
    cited = {
        (path.relative_to(ROOT), name)
        for path in (ROOT / "batchbot").rglob("*.py")
        for name in re.findall(r"[\w./-]+\.md\b", path.read_text(encoding="utf-8"))
    }
    missing = sorted(f"{path}: {name}" for path, name in cited if not (ROOT / name).exists())
    assert not missing, missing
