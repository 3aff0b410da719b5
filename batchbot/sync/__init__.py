"""The synchronous engine: items fed from the job, tries, packs, the result writer, and the
pacing shared with other runs on the same key.

`run` picks this engine or `batch` and drives it; docs/architecture.md shows one item's path.
"""
