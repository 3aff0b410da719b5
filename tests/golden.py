"""The golden table: prompt tokens OpenAI reported or documents (tests/data/token_counts.json).

Two counters are checked against it: batchbot's own estimate (tests/pace) and the fake
server's, which counts on its own (tests/fake). Both take their cases from here, as pytest
parameters, and a test that reshapes a whole case (the Responses API's) takes it from GOLDEN;
pytest's `pythonpath` (pyproject.toml) makes `import golden` work from any test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

TABLE = Path(__file__).parent / "data" / "token_counts.json"
GOLDEN: dict[str, Any] = json.loads(TABLE.read_text(encoding="utf-8"))
# (body, model, published prompt tokens), one per request and model.
REQUESTS = [
    pytest.param(case["body"], model, tokens, id=f"{case['name']}-{model}")
    for case in GOLDEN["requests"]
    for model, tokens in case["prompt_tokens"].items()
]
# One image case each: model, width, height, detail, the tokens it adds and the tolerance.
IMAGES = [
    pytest.param(case, id=f"{case['model']}-{case['width']}x{case['height']}-{case['detail']}")
    for case in GOLDEN["images"]
]
