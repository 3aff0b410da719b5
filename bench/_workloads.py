"""Request bodies for the pacing benchmarks: short uniform questions, and a realistic mix."""

from __future__ import annotations

import random
from typing import Any

MODEL = "gpt-4o-mini"
SYSTEM = "You are a concise, friendly support assistant."
# Everyday words, so a prompt tokenises about as English text does (not one token a word).
_WORDS = """
account answer billing cancel change charge customer delivery email error export feature
help invoice language limit login message mobile network order password payment plan price
privacy refund report request reset search security server setting share storage
subscription support team ticket token update upgrade user verify version warranty
workspace the a of to and in for with on how why what when can does is my our your please
explain quickly without losing data after before
"""
VOCAB = _WORDS.split()


def question(i: int, max_tokens: int) -> dict[str, Any]:
    """A short distinct FAQ question, the shape of a one-prompt job."""
    text = f"Question {i}: write a short FAQ answer about topic {i * 7919 % 1000}."
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": text}],
        "max_tokens": max_tokens,
    }


def mixed(count: int, *, seed: int = 14, system_share: float = 0.3) -> list[dict[str, Any]]:
    """`count` requests of 10-1,500 words (70 % short, 25 % medium, 5 % long), max_tokens
    64-512, a system message on `system_share` of them; the same list for the same seed."""
    rng = random.Random(seed)
    bodies = []
    for i in range(count):
        roll = rng.random()
        words = rng.randint(10, 100) if roll < 0.7 else rng.randint(100, 700)
        if roll >= 0.95:
            words = rng.randint(700, 1500)
        text = f"Item {i}: " + " ".join(rng.choice(VOCAB) for _ in range(words))
        messages = [{"role": "user", "content": text}]
        if rng.random() < system_share:
            messages.insert(0, {"role": "system", "content": SYSTEM})
        max_tokens = rng.randint(64, 512)
        bodies.append({"model": MODEL, "messages": messages, "max_tokens": max_tokens})
    return bodies
