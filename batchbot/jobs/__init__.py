"""Job files -> validated, streamed items.

YAML, JSONL and templates over CSV/JSONL rows become `Item`s, one at a time, with
file:line:field errors before anything is sent. May import: `errors`, `outcome`-free helpers,
and nothing that sends (no `api`, `run`, `batch`, `fake`).
"""
