"""Did you mean ...? The known name a misspelt one most likely stands for.

Typing mistakes are mostly one letter wrong, missing, doubled or two letters swapped, so names
are compared by edit distance counting a swap of neighbours as one edit (the optimal string
alignment form of the Damerau-Levenshtein distance): `modle` is one edit from `model` and one
from `mode`. Among equally near names the one of the same length wins (a swap keeps every
letter, so `model`), then the one sharing the longest runs of letters, then the one whose
changed letters are nearest in the alphabet (`tier-6` is nearer `tier-5` than `tier-1`).
A word too far from every name may be one cut short: the shortest name it begins wins (`payg`
for `payg-new`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["closest", "edit_distance"]


def edit_distance(a: str, b: str) -> int:
    """Insertions, deletions, substitutions and swaps of neighbours that turn `a` into `b`."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char in enumerate(a, 1):
        current = [i]
        for j, other in enumerate(b, 1):
            cost = min(
                previous[j] + 1,
                current[j - 1] + 1,
                previous[j - 1] + (char != other),
            )
            if i > 1 and j > 1 and char == b[j - 2] and a[i - 2] == other:
                cost = min(cost, previous2[j - 2] + 1)
            current.append(cost)
        previous2, previous = previous, current
    return previous[-1]


def _letters_apart(a: str, b: str) -> int:
    """How far apart in the alphabet the letters of two names of one length differ."""
    if len(a) != len(b):
        return 0
    return sum(abs(ord(x) - ord(y)) for x, y in zip(a, b, strict=True))


def closest(word: str, names: Iterable[str], *, most: int | None = None) -> str | None:
    """The name in `names` that `word` is most likely a typo of, or None if none is near.

    Near means at most `most` edits (by default a third of the word's length, at least one);
    the first of equally good names wins. A word that is one of the names is no typo.
    """
    names = list(names)
    if word in names:
        return None
    wanted = word.lower()
    limit = max(1, len(wanted) // 3) if most is None else most
    best: tuple[int, int, float, int] | None = None
    found = None
    for name in names:
        candidate = name.lower()
        distance = edit_distance(wanted, candidate)
        if distance > limit:
            continue
        rank = (
            distance,
            abs(len(candidate) - len(wanted)),
            -difflib.SequenceMatcher(None, wanted, candidate).ratio(),
            _letters_apart(wanted, candidate),
        )
        if best is None or rank < best:
            best, found = rank, name
    return found or _completed(wanted, names)


def _completed(word: str, names: list[str]) -> str | None:
    """The shortest name that begins with `word` (of three letters or more), if any."""
    if len(word) < 3:
        return None
    started = [name for name in names if name.lower().startswith(word)]
    return min(started, key=len) if started else None
