"""The one place batchbot reads the environment: the process's variables over those of `.env`
in the working directory (a variable the process has wins), the same for every command and
for the library. A flag given on the command line wins over both (config.resolve_config).

    OPENAI_API_KEY          the API key (AZURE_OPENAI_API_KEY for Azure OpenAI)
    OPENAI_BASE_URL         --base-url
    AZURE_OPENAI_ENDPOINT   --azure-endpoint
    OPENAI_API_VERSION      --api-version
    BATCHBOT_DB             --db
    BATCHBOT_PRICES         --prices
    BATCHBOT_CACHE          --cache
    BATCHBOT_LOG_FILE       --log-file
    BATCHBOT_STATE_DIR      where runs on this machine share a key (else XDG_STATE_HOME's)
    BATCHBOT_RAISE_ERRORS   set: an unexpected error shows its traceback, not one line
"""

from __future__ import annotations

import os
from pathlib import Path

API_KEY = "OPENAI_API_KEY"
AZURE_API_KEY = "AZURE_OPENAI_API_KEY"
BASE_URL = "OPENAI_BASE_URL"
AZURE_ENDPOINT = "AZURE_OPENAI_ENDPOINT"
API_VERSION = "OPENAI_API_VERSION"
DB = "BATCHBOT_DB"
PRICES = "BATCHBOT_PRICES"
CACHE = "BATCHBOT_CACHE"
LOG_FILE = "BATCHBOT_LOG_FILE"
STATE_DIR = "BATCHBOT_STATE_DIR"
XDG_STATE_HOME = "XDG_STATE_HOME"
RAISE_ERRORS = "BATCHBOT_RAISE_ERRORS"


def environment() -> dict[str, str]:
    """The process environment over ./.env (the working directory's)."""
    from dotenv import dotenv_values

    values = {k: v for k, v in dotenv_values(Path.cwd() / ".env").items() if v is not None}
    return {**values, **os.environ}


def from_process(name: str) -> bool:
    """Whether the process itself sets `name` (else it can only come from .env)."""
    return bool(os.environ.get(name))


def raise_errors() -> bool:
    """Whether an unexpected error should be raised with its traceback (BATCHBOT_RAISE_ERRORS)."""
    return bool(os.environ.get(RAISE_ERRORS))
