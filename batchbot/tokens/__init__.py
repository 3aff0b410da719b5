"""Counting: what a request costs in tokens before it is sent (text, tools, images, media,
Responses input, embeddings) and the `Cost` a run takes once per item.

Read by pacing, the budget, the dry run and the Batch planner; sends nothing, stores nothing.
docs/tokens.md lists the sources of every count.
"""
