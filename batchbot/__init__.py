"""batchbot: run many prompts through the OpenAI Chat Completions API, at the rate limit,
within budget, resumable, with every answer and token count in SQLite."""

__version__ = "0.1.0"
