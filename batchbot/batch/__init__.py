"""`--mode batch`: request files, submit, poll and collect through OpenAI's Batch API.

Sits below `run`, which starts it, and above `answers`, `api`, `money`, `store` and `jobs`.
"""
