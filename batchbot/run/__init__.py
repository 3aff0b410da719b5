"""A synchronous run: dispatch, the result writer, budget, lock, progress and summary.

Sits above `jobs`, `pace`, `api`, `money` and `store`; only `cli` imports it.
"""
