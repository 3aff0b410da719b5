"""The limiter's tests run on a hand-moved clock (see `clocked`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from clocked import Sim, simulated


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    """A fake clock patched into the running loop; leftover tasks are cancelled at the end."""
    async with simulated() as simulation:
        yield simulation
