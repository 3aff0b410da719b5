"""batchbot's estimate against the prompt tokens OpenAI itself reported or documents."""

from __future__ import annotations

import pytest
from golden import GOLDEN, IMAGES, REQUESTS

from batchbot.tokens.count import count_request


def test_every_case_names_its_source():
    """Each published number in the table says where it was published."""
    cases = GOLDEN["requests"] + GOLDEN["images"]
    assert all(case["source"].startswith("https://") for case in cases)


@pytest.mark.parametrize(("body", "model", "published"), REQUESTS)
def test_request_prompt_tokens_match_what_openai_reported(body, model, published):
    """The cookbook's requests count exactly what the API reported for each model."""
    assert count_request({**body, "model": model}).prompt == published


@pytest.mark.parametrize("case", IMAGES)
@pytest.mark.parametrize("worst", [False, True])
def test_image_tokens_match_the_vision_guide(image_url, case, worst):
    """A data-URL image costs what the vision guide works out, for pacing and budget alike."""
    part = {"type": "image_url", "image_url": {"url": image_url(case["width"], case["height"])}}
    part["image_url"]["detail"] = case["detail"]
    body = {"model": case["model"], "messages": [{"role": "user", "content": [part]}]}
    counted = count_request(body, worst=worst)
    assert counted.images == pytest.approx(case["tokens"], rel=case["within"])
    assert counted.assumed == ()
