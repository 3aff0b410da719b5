"""A prices file (`--prices`, BATCHBOT_PRICES): the table a job's `prices:` holds, on its own."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from batchbot.jobs.fields import Where
from batchbot.jobs.settings import parse_prices
from batchbot.jobs.text import read_text


def load_price_file(path: str | Path) -> Mapping[str, Mapping[str, Any]]:
    """A prices file: YAML or JSON `{model: {input, output, cached_input?, flex?, priority?}}`,
    USD per MTok."""
    import yaml

    path = Path(path)
    doc = yaml.safe_load(read_text(path))
    return parse_prices(doc or {}, Where(path, 1))
