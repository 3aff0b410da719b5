"""The OpenAI client (its own retries off), the one error policy, and outage detection.

May import `pace` (rate-limit headers), `outcome`, `errors`; not `store`, `run`, `batch`,
`reports` or `fake`.
"""
