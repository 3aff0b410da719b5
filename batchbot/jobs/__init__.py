"""Job files -> validated, streamed items.

YAML, JSONL and templates over CSV/JSONL rows become `Item`s, one at a time, with
file:line:field errors before anything is sent. May import `endpoints`, `modes`, `spelling` and
`errors` only: reading a job sends nothing (docs/architecture.md).
"""
