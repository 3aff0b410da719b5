"""Prices, costs and budgets: genai-prices, per-model overrides, the cost of an answer, the
run's and the day's caps.

Below `sync` and `batch`, so both modes keep to a budget; may import `tokens` (what a request
may cost), `tally`, `outcome` and the layers under them; sends nothing (docs/architecture.md).
"""
