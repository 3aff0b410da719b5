"""Answers you can use: checked against the item's schema, and asked again when they fail.

`check` parses and validates each answer (jsonschema, or the job's Pydantic model) and says
whether it is ok, invalid, refused or cut off; `reask` builds the request that asks again
(`on_invalid: retry`, `on_length: retry`). Below `sync` and `batch`, which both use it;
docs/architecture.md lists what each layer may import.
"""
