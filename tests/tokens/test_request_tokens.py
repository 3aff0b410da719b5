"""What a whole request costs: the parts, the assumptions, and a second opinion from the fake."""

from __future__ import annotations

import base64
import math
import struct
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from batchbot.fake.counting import prompt_tokens as fake_prompt_tokens
from batchbot.tokens import images
from batchbot.tokens.count import count_request, request_tokens

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name."},
                "days": {"type": "array", "items": {"type": "integer"}},
                "unit": {"type": "string", "enum": ["c", "f"]},
                "where": {"type": "object", "properties": {"lat": {"type": "number"}}},
            },
        },
    },
}
SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "answer",
        "strict": True,
        "schema": {"type": "object", "properties": {"text": {"type": "string"}}},
    },
}


def user(*parts: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "content": list(parts)}]


def picture(url: str, detail: str = "high") -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url, "detail": detail}}


def test_parts_are_counted_apart():
    """Text, tools, images, schema and allowance each land in their own field of the count."""
    body = {
        "model": "gpt-4o",
        "messages": user({"type": "text", "text": "Hi"}, picture("https://x.test/a.png#1024x1024")),
        "tools": [WEATHER],
        "response_format": SCHEMA,
        "max_tokens": 50,
        "n": 2,
    }
    counted = count_request(body)
    assert (counted.images, counted.allowance, counted.assumed) == (765, 100, ())
    assert counted.tools > 0
    assert counted.schema > 0
    assert counted.prompt == counted.text + counted.tools + counted.images + counted.schema
    assert counted.total == request_tokens(body) == counted.prompt + 100


@pytest.mark.parametrize(
    ("model", "detail", "typical", "worst"),
    [
        ("gpt-4o", "high", 765, 85 + 8 * 170),
        ("gpt-4o", "auto", 765, 85 + 8 * 170),
        ("gpt-4o", "low", 85, 85),
        ("gpt-4o-mini", "high", 2833 + 4 * 5667, 2833 + 8 * 5667),
        ("gpt-5", "high", 70 + 4 * 140, 70 + 8 * 140),
        ("gpt-4.1-mini", "low", math.ceil(1024 * 1.62), math.ceil(1536 * 1.62)),
        ("o4-mini", "high", math.ceil(1024 * 1.72), math.ceil(1536 * 1.72)),
    ],
)
def test_remote_image_typical_for_pacing_worst_for_budget(model, detail, typical, worst):
    """A remote image with no size paces as 1024 x 1024 and budgets the model's maximum."""
    body = {"model": model, "messages": user(picture("https://x.test/cat.png", detail))}
    assert count_request(body).images == typical
    assert count_request(body, worst=True).images == worst
    assert count_request(body).assumed == ("remote image",)


def test_the_worst_case_is_the_most_any_size_costs():
    """No image size costs more tiles or patches than the worst case budgets."""
    sizes = [(w, h) for w in range(64, 6000, 97) for h in (64, 700, 768, 769, 2048, 5000)]
    assert max(images.tile_count(w, h) for w, h in sizes) == images.MOST_TILES
    assert max(images.patch_count(w, h) for w, h in sizes) == images.PATCH_CAP


@pytest.mark.parametrize("fragment", ["#0x0", "#0x500", "#1x99999", "#99999x3"])
@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4.1-mini"])
def test_extreme_sizes_in_the_fragment(fragment, model):
    """A zero side is no size at all; a thread-thin image still costs at least a patch or tile."""
    body = {"model": model, "messages": user(picture(f"https://x.test/a.png{fragment}"))}
    unknown = {"model": model, "messages": user(picture("https://x.test/unknown.png"))}
    most = count_request(unknown, worst=True).images
    assert 0 < count_request(body, worst=True).images <= most
    assert fake_prompt_tokens(body) > 0


def test_a_size_in_the_fragment_is_not_an_assumption():
    """`#WxH` at the end of a remote URL gives the size: 2048 x 4096 is 1105 tokens on gpt-4o."""
    body = {"model": "gpt-4o", "messages": user(picture("https://x.test/a.png#2048x4096"))}
    assert count_request(body, worst=True).images == 1105
    assert count_request(body).assumed == ()


@pytest.mark.parametrize("kind", ["png", "gif", "webp", "jpeg"])
def test_data_url_sizes_from_each_format(image_url, kind):
    """PNG, GIF, WebP and JPEG headers give the size with no pixel decoded."""
    assert images.image_size(image_url(1234, 567, kind))[0] == (1234, 567)


def test_webp_lossy_and_lossless_headers():
    """The two simple WebP formats carry their sizes in their own ways."""
    lossy = b"RIFF\0\0\0\0WEBPVP8 \0\0\0\0\0\0\0\x9d\x01\x2a" + struct.pack("<HH", 640, 480)
    bits = (640 - 1) | ((480 - 1) << 14)
    lossless = b"RIFF\0\0\0\0WEBPVP8L\0\0\0\0\x2f" + bits.to_bytes(4, "little")
    for head in (lossy, lossless):
        url = "data:image/webp;base64," + base64.b64encode(head).decode()
        assert images.image_size(url)[0] == (640, 480)


def test_jpeg_size_after_a_large_exif_block(image_url):
    """A JPEG whose frame header sits past a 100 kB EXIF block still gives its size."""
    head = base64.b64decode(image_url(800, 600, "jpeg").partition(",")[2])
    exif = b"\xff\xe1" + struct.pack(">H", 65535) + b"\0" * 65533
    jpeg = head[:2] + exif + exif + head[2:]
    url = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
    assert images.image_size(url)[0] == (800, 600)


def test_unreadable_data_url_is_an_assumption():
    """A data URL that holds no image header counts as an image of unknown size."""
    body = {"model": "gpt-4o", "messages": user(picture("data:image/png;base64,bm90IGFuIGltYWdl"))}
    assert count_request(body, worst=True).images == 85 + 8 * 170
    assert count_request(body).assumed == ("unreadable image",)


def wav(seconds: float) -> str:
    rate = 16_000 * 2  # 16 kHz, 16-bit mono: bytes a second
    header = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0" + struct.pack("<II", 16_000, rate)
    header += b"\x02\0\x10\0data\0\0\0\0"
    return base64.b64encode(header + b"\0" * int(seconds * rate)).decode()


def test_audio_and_files_are_assumptions():
    """Audio costs 10 tokens a second, a file a token per 4 bytes; both are flagged."""
    audio = {"type": "input_audio", "input_audio": {"data": wav(3), "format": "wav"}}
    data = "data:application/pdf;base64," + base64.b64encode(b"x" * 4000).decode()
    pdf = {"type": "file", "file": {"filename": "a.pdf", "file_data": data}}
    stored = {"type": "file", "file": {"file_id": "file-abc"}}
    counted = count_request({"model": "gpt-4o-audio-preview", "messages": user(audio, pdf, stored)})
    assert counted.files == 30 + 1000 + 1024
    assert counted.assumed == ("audio", "file")


AGREEMENT = {
    "plain": {"messages": [{"role": "user", "content": "What is a chatbot?"}]},
    "named": {"messages": [{"role": "user", "name": "ada", "content": "Hello"}]},
    "tools and schema": {
        "messages": [{"role": "user", "content": "Weather in Oslo?"}],
        "tools": [WEATHER],
        "tool_choice": "auto",
        "response_format": SCHEMA,
    },
    "legacy functions": {
        "messages": [{"role": "user", "content": "Weather?"}],
        "functions": [WEATHER["function"]],
    },
    "tool round trip": {
        "messages": [
            {"role": "user", "content": "Weather in Oslo?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 3}'},
        ],
        "tools": [WEATHER],
    },
    "images": {
        "messages": user(
            {"type": "text", "text": "Compare"},
            picture("https://x.test/a.png#600x900"),
            picture("https://x.test/b.png#3000x1000", "low"),
        )
    },
}


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4", "gpt-4.1-nano", "gpt-5"])
@pytest.mark.parametrize("case", AGREEMENT)
def test_batchbot_and_the_fake_agree(case, model):
    """batchbot and the fake server, counting with separate code, give the same prompt tokens."""
    body = {"model": model, **AGREEMENT[case]}
    assert count_request(body).prompt == fake_prompt_tokens(body)


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.sampled_from(
        [b"", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"RIFF\0\0\0\0WEBPVP8X", b"\xff\xd8"]
    ),
    rest=st.binary(max_size=80),
    detail=st.sampled_from(["low", "high", "auto"]),
)
@example(prefix=b"\x89PNG\r\n\x1a\n", rest=b"\0\0\0\x0dIHDR" + b"\0" * 20, detail="high")
def test_any_bytes_in_a_data_url_cost_something_and_never_raise(prefix, rest, detail):
    """Whatever a data URL holds, the count is a positive number of tokens, not an exception."""
    url = "data:image/png;base64," + base64.b64encode(prefix + rest).decode()
    for model in ("gpt-4o", "gpt-4.1-mini"):
        body = {"model": model, "messages": user(picture(url, detail))}
        assert count_request(body, worst=True).images > 0
        assert fake_prompt_tokens(body) > 0


def test_odd_shapes_are_counted_not_crashed_on():
    """Parts that are not objects, an image_url given as a string, junk tool calls: both count."""
    body = {
        "model": "gpt-4o",
        "messages": [
            {"role": "user", "content": ["loose text", {"type": "image_url", "image_url": "x"}]},
            {"role": "assistant", "content": None, "tool_calls": ["junk", {"function": None}]},
        ],
        "tools": ["junk"],
    }
    ours = count_request(body)
    assert ours.images == 765
    assert ours.tools == 0
    assert ours.prompt == fake_prompt_tokens(body)
