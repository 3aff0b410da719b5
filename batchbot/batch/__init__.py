"""`--mode batch`: request files, submit, poll and collect through OpenAI's Batch API.

Beside `sync` (a run drives one or the other) and below `run`; may import `config`, `answers`,
`api`, `money` (prices, the budget), `store`, `tokens` and the layers under them
(docs/architecture.md).
"""
