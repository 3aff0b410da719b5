"""A Responses API request counts as the Chat Completions request it amounts to."""

from __future__ import annotations

from golden import GOLDEN

from batchbot.endpoints import RESPONSES
from batchbot.tokens.count import count_request


def test_cookbook_tool_example_in_responses_shape():
    """The cookbook's tool example, as instructions, input and a flat tool, counts 101 on gpt-4o."""
    (case,) = [c for c in GOLDEN["requests"] if "function-calling" in c["name"]]
    system, question = case["body"]["messages"]
    tool = case["body"]["tools"][0]["function"]
    body = {
        "model": "gpt-4o",
        "instructions": system["content"],
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": question["content"]}]}
        ],
        "tools": [{"type": "function", **tool}, {"type": "web_search"}],
        "max_output_tokens": 50,
    }
    counted = count_request(body, endpoint=RESPONSES)
    assert counted.prompt == case["prompt_tokens"]["gpt-4o"]
    assert counted.allowance == 50


def test_input_items_with_images_calls_and_outputs(image_url):
    """Images, function calls and their outputs in `input` count like their chat equivalents."""
    items = [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "Weather here?"},
                {"type": "input_image", "image_url": image_url(1024, 1024), "detail": "high"},
            ],
        },
        {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
    ]
    counted = count_request({"model": "gpt-4o", "input": items}, endpoint=RESPONSES)
    assert counted.images == 765
    assert counted.assumed == ()
    plain = count_request({"model": "gpt-4o", "input": "Hi"}, endpoint=RESPONSES)
    assert plain.prompt == 3 + 3 + 1 + 1  # priming, message, role "user", "Hi"
