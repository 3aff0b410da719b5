"""Prices and costs: genai-prices, per-model overrides, the cost of an answer.

May import `jobs` (price overrides live in job files), `outcome`, `errors`; sends nothing.
"""
