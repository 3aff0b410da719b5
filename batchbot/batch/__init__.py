"""`--mode batch`: request files, submit, poll and collect through OpenAI's Batch API.

Sits beside `run`, above `jobs`, `pace`, `api`, `money` and `store`.
"""
