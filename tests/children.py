"""The environment of a `batchbot` started as a child process by a test."""

from __future__ import annotations

import os


def child_env(api_key: str = "sk-test") -> dict[str, str]:
    """The test's environment with no OPENAI_/BATCHBOT_ settings but the key and the test's
    own state directory (so a run elsewhere on the machine never shares a key with it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "BATCHBOT_"))}
    env["BATCHBOT_STATE_DIR"] = os.environ["BATCHBOT_STATE_DIR"]
    env["OPENAI_API_KEY"] = api_key
    return env
