"""The baseline users write by hand: AsyncOpenAI + asyncio.gather + a semaphore.

It uses the SDK's own retries and stores nothing. Usage: naive_loop.py URL JOB.jsonl CONCURRENCY
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import openai


async def main(url: str, bodies: list[dict[str, object]], concurrency: int) -> None:
    gate = asyncio.Semaphore(concurrency)
    async with openai.AsyncOpenAI(base_url=url, api_key="sk-bench") as client:

        async def one(body: dict[str, object]) -> str | None:
            async with gate:
                answer = await client.chat.completions.create(**body)  # type: ignore[call-overload]
                return answer.choices[0].message.content  # type: ignore[no-any-return]

        answers = await asyncio.gather(*(one(body) for body in bodies))
    assert all(answers)


if __name__ == "__main__":
    lines = Path(sys.argv[2]).read_text("utf-8").splitlines()
    asyncio.run(main(sys.argv[1], [json.loads(line)["body"] for line in lines], int(sys.argv[3])))
