"""Prompt tokens for audio and file parts: batchbot's assumptions, as OpenAI publishes no rule.

docs/tokens.md states them: audio at 10 tokens a second (the length read from a WAV header,
other formats taken as 128 kbit/s), a file at a token per 4 bytes (as text runs), and a flat
guess for a file sent by id. The dry-run flags every item that carries either.
"""

from __future__ import annotations

import math
from base64 import b64decode
from collections.abc import Mapping
from typing import Any

# Assumptions where OpenAI publishes no rule (docs/tokens.md).
AUDIO_TOKENS_PER_SECOND = 10
MP3_BYTES_PER_SECOND = 16_000  # 128 kbit/s, for any audio that is not WAV
WAV_HEADER_BYTES = 44
BYTES_PER_FILE_TOKEN = 4
FILE_ID_TOKENS = 1024


def audio_tokens(data: str, audio_format: str) -> int:
    """An assumption (docs/tokens.md): 10 tokens a second of audio."""
    size = _decoded_size(data)
    seconds = size / MP3_BYTES_PER_SECOND
    if audio_format == "wav":
        try:
            head = b64decode(data[:64])
        except ValueError:  # binascii.Error is one: not base64, so no header to read
            head = b""
        if head[:4] == b"RIFF" and len(head) >= 32:
            byte_rate = int.from_bytes(head[28:32], "little")
            seconds = max(0, size - WAV_HEADER_BYTES) / byte_rate if byte_rate else seconds
    return math.ceil(seconds * AUDIO_TOKENS_PER_SECOND)


def file_tokens(spec: Mapping[str, Any]) -> int:
    """An assumption (docs/tokens.md): a token per 4 bytes of the file, or a flat guess by id."""
    data = str(spec.get("file_data", ""))
    if not data:
        return FILE_ID_TOKENS
    return math.ceil(_decoded_size(data.partition(",")[2] or data) / BYTES_PER_FILE_TOKEN)


def _decoded_size(encoded: str) -> int:
    """Bytes a base64 text decodes to, without decoding it."""
    encoded = encoded.strip()
    return len(encoded) * 3 // 4 - (len(encoded) - len(encoded.rstrip("=")))
