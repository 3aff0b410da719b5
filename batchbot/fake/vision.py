"""What the fake server bills for an image, by OpenAI's vision guide.

Written apart from batchbot's own estimator, on purpose: the guide's two schemes (512-px tiles
for most models, 32-px patches times a multiplier for the small ones) restated here from the
guide itself, https://platform.openai.com/docs/guides/images-vision#calculating-costs.

The fake cannot download a remote image either. It bills one as an image of the size written in
the URL's fragment (`https://example.com/cat.png#640x480`, which no HTTP client sends), else
as the stand-in below, so a test can make the server's view of an image whatever it needs.
"""

from __future__ import annotations

import base64
import math
import re
import struct

STAND_IN_SIZE = (1024, 1024)  # a remote image with no size in its fragment
_FRAGMENT_SIZE = re.compile(r"#(\d+)x(\d+)$")

# (model prefix, low/base tokens, tokens per 512-px tile); the longest matching prefix wins.
TILED = (
    ("gpt-5", 70, 140),
    ("gpt-4o-mini", 2833, 5667),
    ("gpt-4o", 85, 170),
    ("gpt-4.1", 85, 170),
    ("gpt-4.5", 85, 170),
    ("gpt-4-turbo", 85, 170),
    ("o1", 75, 150),
    ("o3", 75, 150),
    ("computer-use-preview", 65, 129),
)
# (model prefix, tokens per 32-px patch); these ignore `detail`.
PATCHED = (
    ("gpt-4.1-mini", 1.62),
    ("gpt-4.1-nano", 2.46),
    ("gpt-5-mini", 1.62),
    ("gpt-5-nano", 2.46),
    ("o4-mini", 1.72),
)
PATCH_CAP = 1536


def image_tokens(model: str, url: str, detail: str) -> int:
    """Tokens the fake bills for one `image_url` part."""
    width, height = _size(url)
    base = model.split(":")[1] if model.startswith("ft:") else model
    patched = [(len(prefix), rate) for prefix, rate in PATCHED if base.startswith(prefix)]
    tiled = [(len(prefix), low, tile) for prefix, low, tile in TILED if base.startswith(prefix)]
    if patched and (not tiled or max(patched)[0] >= max(tiled)[0]):
        return math.ceil(_patches(width, height) * max(patched)[1])
    _, low, per_tile = max(tiled) if tiled else (0, 85, 170)
    if detail == "low":
        return low
    return low + per_tile * _tiles(width, height)


def _tiles(width: float, height: float) -> int:
    """512-px tiles after fitting into 2048 x 2048, then the short side down to 768."""
    fit = min(1.0, 2048 / max(width, height))
    width, height = width * fit, height * fit
    shrink = min(1.0, 768 / min(width, height))
    return math.ceil(width * shrink / 512) * math.ceil(height * shrink / 512)


def _patches(width: int, height: int) -> int:
    """32-px patches; an image needing more than the cap is shrunk first, as the guide says."""
    needed = _covering(width) * _covering(height)
    if needed <= PATCH_CAP:
        return needed
    # To the cap's area first; then further, until the side with the larger fraction of a
    # patch left over ends on a whole patch (one at least: a sliver still takes one).
    to_area = math.sqrt(PATCH_CAP / (width / 32 * (height / 32)))
    to_whole = min(_whole_share(width / 32 * to_area), _whole_share(height / 32 * to_area))
    scale = to_area * to_whole
    return min(PATCH_CAP, _covering(int(width * scale)) * _covering(int(height * scale)))


def _covering(pixels: int) -> int:
    """The 32-px patches a side of `pixels` takes."""
    return -(-pixels // 32)


def _whole_share(patches: float) -> float:
    """The share of `patches` (a fractional count) that is whole patches."""
    return max(1, math.floor(patches)) / patches


def _size(url: str) -> tuple[int, int]:
    if url.startswith("data:"):
        payload = url.partition(",")[2].strip()
        # The header sits in the first bytes, except in a JPEG with a large EXIF block.
        found = _header_size(_unbase64(payload[:65536])) or _header_size(_unbase64(payload))
        return found if found and min(found) > 0 else STAND_IN_SIZE
    written = _FRAGMENT_SIZE.search(url)
    if written and int(written[1]) > 0 and int(written[2]) > 0:
        return int(written[1]), int(written[2])
    return STAND_IN_SIZE


def _unbase64(text: str) -> bytes:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        return b""


def _header_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG, GIF, WebP or JPEG header."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:4] == b"GIF8" and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_size(data)
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    at = 2
    while at + 9 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start of frame
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return width, height
        at += 2 + struct.unpack(">H", data[at + 2 : at + 4])[0]
    return None
