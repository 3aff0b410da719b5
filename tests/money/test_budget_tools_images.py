"""A budget holds for requests whose cost is mostly tools and images, as the server bills them."""

from __future__ import annotations

import json
import sqlite3

from conftest import data_url

TOOL = {
    "type": "function",
    "function": {
        "name": "lookup_product",
        "description": "Find a product in the catalogue.",
        "parameters": {
            "type": "object",
            "properties": {"sku": {"type": "string", "description": "The product code."}},
        },
    },
}


def _line(i: int) -> str:
    # Half the images are data URLs (512 x 512: one tile), half remote ones of unknown size.
    url = data_url(512, 512) if i % 2 else f"https://example.com/p{i}.png"
    content = [
        {"type": "text", "text": f"Question {i}: what is this product?"},
        {"type": "image_url", "image_url": {"url": url}},
    ]
    body = {"messages": [{"role": "user", "content": content}], "tools": [TOOL], "max_tokens": 30}
    return json.dumps(body)


def test_tools_and_images_job_ends_under_the_cap(tmp_path, write_job, invoke, fake_api):
    """300 items, an image and a tool each, 50 at a time under --max-cost 0.05: at most $0.05."""
    job = write_job("shop.jsonl", "\n".join(_line(i) for i in range(300)) + "\n")
    db = tmp_path / "shop.db"
    fake_api.latency_ms = 30.0
    try:
        result = invoke(
            "run", str(job), "--db", str(db), "--base-url", fake_api.url, "--model",
            "gpt-4o-mini", "--max-cost", "0.05", "--concurrency", "50",
        )  # fmt: skip
    finally:
        fake_api.latency_ms = 0.0
    with sqlite3.connect(db) as conn:
        spent, answered, least = conn.execute(
            "select sum(cost_usd), count(cost_usd), min(prompt_tokens) from requests"
        ).fetchone()
    assert result.exit_code == 3, result.output
    assert "budget reached" in result.output
    assert spent <= 0.05
    assert answered >= 10
    assert least >= 2833 + 5667  # the server billed every image: one tile at least
