"""Token counts offline: the official vocabularies from the wheel, chosen by model."""

from __future__ import annotations

import pytest
import tiktoken.load

from batchbot.tokens import count as tokens


@pytest.mark.parametrize(
    ("model", "name"),
    [
        ("gpt-4o-mini", "o200k_base"),
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo-0125", "cl100k_base"),
        ("ft:gpt-3.5-turbo-0125:acme::abc123", "cl100k_base"),
        ("ft:gpt-4o-mini-2024-07-18:acme::abc123", "o200k_base"),
        ("gpt-oss-120b", "o200k_harmony"),
        ("some-local-model", "o200k_base"),
    ],
)
def test_encoding_by_model(model: str, name: str) -> None:
    """Each model family counts with the vocabulary OpenAI uses for it."""
    assert tokens.encoding_name_for_model(model) == name


@pytest.mark.parametrize(
    ("model", "text", "ids"),
    [
        ("gpt-4o-mini", "hello world", [24912, 2375]),
        ("gpt-4", "hello world", [15339, 1917]),
        ("gpt-oss-20b", "hello world", [24912, 2375]),
    ],
)
def test_official_token_ids(model: str, text: str, ids: list[int]) -> None:
    """The bundled vocabularies give the official token ids."""
    assert tokens.encoding_for_model(model).encode(text) == ids


def test_never_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building an encoding reads nothing from the network or tiktoken's cache."""

    def no_network(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("tiktoken tried to fetch a vocabulary")

    monkeypatch.setattr(tiktoken.load, "read_file", no_network)
    monkeypatch.setattr(tiktoken.load, "read_file_cached", no_network)
    tokens.encoding.cache_clear()
    assert tokens.count_text("gpt-4o", "hello world") == 2
    assert tokens.count_text("gpt-oss-120b", "hello world") == 2


def test_tampered_vocabulary_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A vocabulary that is not byte-identical to the official file is not used."""
    monkeypatch.setitem(tokens.VOCAB_SHA256, "cl100k_base", "0" * 64)
    tokens.encoding.cache_clear()
    with pytest.raises(tokens.VocabularyError, match="does not match"):
        tokens.encoding("cl100k_base")
    tokens.encoding.cache_clear()


@pytest.mark.parametrize(
    ("body", "allowance"),
    [
        ({}, tokens.DEFAULT_COMPLETION_ALLOWANCE),
        ({"max_tokens": 300}, 300),
        ({"max_completion_tokens": 50, "max_tokens": 300}, 50),
        ({"max_tokens": 100, "n": 3}, 300),
    ],
)
def test_completion_allowance(body: dict[str, int], allowance: int) -> None:
    """What OpenAI reserves against TPM for the answer: max tokens times n."""
    assert tokens.completion_allowance(body) == allowance
