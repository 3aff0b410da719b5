"""Did you mean ...: the nearest known name by edit distance, a swap of neighbours one edit."""

from __future__ import annotations

import pytest

from batchbot.spelling import closest, edit_distance


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("model", "model", 0),
        ("modle", "model", 1),  # two neighbours swapped
        ("modle", "mode", 1),  # one letter too many
        ("max_token", "max_tokens", 1),
        ("tempreture", "temperature", 2),
        ("abc", "", 3),
        ("ca", "abc", 3),  # the optimal string alignment form: no edit of an edited stretch
    ],
)
def test_edit_distance(a, b, distance):
    """Insertions, deletions, substitutions and neighbour swaps each count one."""
    assert edit_distance(a, b) == distance
    assert edit_distance(b, a) == distance


@pytest.mark.parametrize(
    ("word", "names", "expected"),
    [
        ("modle", ["mode", "model", "name"], "model"),  # a swap beats a dropped letter
        ("modle", ["model", "mode"], "model"),
        ("mdoel", ["mode", "model"], "model"),
        ("promts", ["prompts", "params"], "prompts"),
        ("Model", ["model"], "model"),  # case alone is a difference worth saying
        ("budget", ["model", "prompts"], None),  # nothing near
        ("model", ["model", "mode"], None),  # a known name is no typo
        ("tier-6", ["tier-1", "tier-5", "tier-2"], "tier-5"),  # the nearest changed letter
        ("payg", ["payg-established", "payg-new", "free"], "payg-new"),  # a name cut short
        ("pa", ["payg-new"], None),  # two letters are too few to complete
    ],
)
def test_closest(word, names, expected):
    """The nearest name within a third of the word's length, same-length names first."""
    assert closest(word, names) == expected
