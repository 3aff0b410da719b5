"""What an image in a request costs in prompt tokens, by OpenAI's vision guide.

Source: https://platform.openai.com/docs/guides/images-vision#calculating-costs. Most models cut
the image into 512-px tiles after fitting it into 2048 x 2048 and its short side into 768, and
charge base + tiles x tile tokens (`detail: low` is the base alone). The small models of the
4.1, 5 and o4 families count 32-px patches, at most 1,536, times a multiplier, whatever the
detail. This is the one table of those constants in batchbot.

The size of a data URL's image comes from its header (PNG, JPEG, GIF, WebP); no pixel is
decoded. batchbot never downloads a remote image: a size written as the URL's fragment
(`https://example.com/cat.png#1600x1200`, which HTTP clients never send) is used as given;
otherwise pacing assumes `TYPICAL_SIZE` and budgets the most the model can charge.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import struct
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

# (base tokens, tokens per 512-px tile) by model prefix; the longest matching prefix wins.
TILES: dict[str, tuple[int, int]] = {
    "gpt-5": (70, 140),  # gpt-5, gpt-5-chat-latest
    "gpt-4o": (85, 170),
    "gpt-4.1": (85, 170),
    "gpt-4.5": (85, 170),
    "gpt-4-turbo": (85, 170),
    "gpt-4o-mini": (2833, 5667),
    "o1": (75, 150),  # o1, o1-pro
    "o3": (75, 150),
    "computer-use-preview": (65, 129),
}
UNKNOWN_MODEL_TILES = TILES["gpt-4o"]
# Tokens per 32-px patch by model prefix.
PATCHES: dict[str, float] = {
    "gpt-4.1-mini": 1.62,
    "gpt-4.1-nano": 2.46,
    "gpt-5-mini": 1.62,
    "gpt-5-nano": 2.46,
    "o4-mini": 1.72,
}
PATCH_CAP = 1536
# Tiles, at most: fitted into 2048 x 2048 with a short side of 768, an image spans 2 x 4.
MOST_TILES = 8
# A photo or screenshot as commonly sent; the size of the guide's first worked example.
TYPICAL_SIZE = (1024, 1024)
_FRAGMENT_SIZE = re.compile(r"#(\d{1,5})x(\d{1,5})$")
_HEADER_CHARS = 65_536  # base64 characters read first: enough for all but EXIF-heavy JPEGs


@dataclass(frozen=True, slots=True)
class ImageCost:
    tokens: int
    assumed: str | None = None  # why the size is a guess ("remote image"), None when known


def image_cost(model: str, url: str, detail: str = "auto", *, worst: bool = False) -> ImageCost:
    """Tokens for one `image_url` part; `worst`: the most it can cost when its size is unknown."""
    size, assumed = image_size(url)
    if size is None:
        tokens = _most(model, detail) if worst else _tokens(model, *TYPICAL_SIZE, detail)
        return ImageCost(tokens, assumed)
    return ImageCost(_tokens(model, *size, detail))


def image_size(url: str) -> tuple[tuple[int, int] | None, str]:
    """The image's size if the URL tells it, with what kind of image it is for messages."""
    if url.startswith("data:"):
        payload = url.partition(",")[2]
        size = _header_size(_decoded(payload[:_HEADER_CHARS])) or _header_size(_decoded(payload))
        return size, "unreadable image"
    written = _FRAGMENT_SIZE.search(url)
    size = (int(written[1]), int(written[2])) if written else None
    return (size if size and min(size) > 0 else None), "remote image"


def _tokens(model: str, width: int, height: int, detail: str) -> int:
    per_patch = _by_prefix(model, PATCHES)
    if per_patch is not None:
        return math.ceil(patch_count(width, height) * per_patch)
    base, per_tile = _by_prefix(model, TILES) or UNKNOWN_MODEL_TILES
    return base if detail == "low" else base + per_tile * tile_count(width, height)


def _most(model: str, detail: str) -> int:
    per_patch = _by_prefix(model, PATCHES)
    if per_patch is not None:
        return math.ceil(PATCH_CAP * per_patch)
    base, per_tile = _by_prefix(model, TILES) or UNKNOWN_MODEL_TILES
    return base if detail == "low" else base + per_tile * MOST_TILES


def tile_count(width: int, height: int) -> int:
    """512-px tiles once fitted into 2048 x 2048 and the short side brought down to 768."""
    scale = min(1.0, 2048 / max(width, height))
    scale *= min(1.0, 768 / (min(width, height) * scale))
    return math.ceil(width * scale / 512) * math.ceil(height * scale / 512)


def patch_count(width: int, height: int) -> int:
    """32-px patches covering the image, scaled down first (whole patches) past the cap."""
    if math.ceil(width / 32) * math.ceil(height / 32) > PATCH_CAP:
        scale = math.sqrt(32 * 32 * PATCH_CAP / (width * height))
        wide, high = width * scale / 32, height * scale / 32
        # A side thinner than one patch keeps one, where the guide's formula would keep none.
        scale *= min(max(1, math.floor(wide)) / wide, max(1, math.floor(high)) / high)
        width, height = math.floor(width * scale), math.floor(height * scale)
    return min(PATCH_CAP, math.ceil(width / 32) * math.ceil(height / 32))


def _by_prefix(model: str, table: dict[str, T]) -> T | None:
    name = model.lower().split(":")[1] if model.startswith("ft:") else model.lower()
    matches = [prefix for prefix in table if name.startswith(prefix)]
    return table[max(matches, key=len)] if matches else None


def _decoded(text: str) -> bytes:
    text = text.strip()
    try:
        return base64.b64decode(text[: len(text) - len(text) % 4])
    except (binascii.Error, ValueError):
        return b""


def _header_size(head: bytes) -> tuple[int, int] | None:
    """Width and height from the first bytes of a PNG, GIF, WebP or JPEG file."""
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
        return _unpack(">II", head, 16)
    if head.startswith((b"GIF87a", b"GIF89a")):
        return _unpack("<HH", head, 6)
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return _webp_size(head)
    if head.startswith(b"\xff\xd8"):
        return _jpeg_size(head)
    return None


def _unpack(layout: str, data: bytes, at: int) -> tuple[int, int] | None:
    if len(data) < at + struct.calcsize(layout):
        return None
    width, height = struct.unpack_from(layout, data, at)
    return (int(width), int(height)) if width and height else None


def _webp_size(head: bytes) -> tuple[int, int] | None:
    kind = head[12:16]
    if kind == b"VP8 " and len(head) >= 30:  # lossy: 14-bit sizes after a start code
        width, height = struct.unpack_from("<HH", head, 26)
        return width & 0x3FFF, height & 0x3FFF
    if kind == b"VP8L" and len(head) >= 25:  # lossless: 14-bit sizes minus one, packed
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8X" and len(head) >= 30:  # extended: 24-bit sizes minus one
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    return None


# Start-of-frame markers carry the size; C4 (Huffman tables), C8 and CC (arithmetic) do not.
_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    """Walk the segments to the first start of frame: its height comes before its width."""
    at = 2
    while at + 4 <= len(head) and head[at] == 0xFF:
        marker = head[at + 1]
        if marker == 0xFF:  # padding before a marker
            at += 1
            continue
        if marker in _FRAME_MARKERS:
            found = _unpack(">HH", head, at + 5)
            return (found[1], found[0]) if found else None
        at += 2 + int.from_bytes(head[at + 2 : at + 4], "big")
    return None
