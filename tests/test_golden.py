"""The golden token table is loaded in one place, so both counters meet the same cases."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import golden
import pytest

TESTS = Path(__file__).parent


def load(path: Path) -> ModuleType:
    """A test module, imported afresh from its file."""
    spec = importlib.util.spec_from_file_location(f"golden_user_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("user", ["fake/test_fake_counting.py", "tokens/test_token_golden.py"])
def test_both_counters_take_their_cases_from_the_golden_module(user):
    """The fake server's counting and batchbot's estimate are checked on the very same cases."""
    module = load(TESTS / user)
    assert module.REQUESTS is golden.REQUESTS
    assert module.IMAGES is golden.IMAGES


def test_every_request_and_image_is_a_case():
    """Every request of the table is a case for each model it lists, every image once."""
    models = sum(len(case["prompt_tokens"]) for case in golden.GOLDEN["requests"])
    assert len(golden.REQUESTS) == models > 0
    assert len(golden.IMAGES) == len(golden.GOLDEN["images"]) > 0


def test_every_test_takes_the_table_from_the_golden_module():
    """No test reads the table file its own way; the one that needs a whole case takes it
    from golden's GOLDEN, so a change to how the table loads reaches every user."""
    name = golden.TABLE.name
    readers = sorted(
        str(path.relative_to(TESTS))
        for path in TESTS.rglob("*.py")
        if name in path.read_text(encoding="utf-8")
    )
    assert readers == ["golden.py"]
    assert load(TESTS / "tokens" / "test_responses.py").GOLDEN is golden.GOLDEN
