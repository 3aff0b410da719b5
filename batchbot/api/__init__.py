"""The OpenAI client (its own retries off), the one exception tree, the error policy, outages.

openai's and httpx2's exceptions become batchbot's in `exceptions`, where they enter. Below
`answers`, `sync` and `batch`; may import `money`, `pace` (rate-limit headers) and the layers
under them (docs/architecture.md).
"""
