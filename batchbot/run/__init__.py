"""A run in any mode: the lock, the mode it picks, the dry-run estimate, the engine it drives
(`sync` or `batch`), its progress and its closing lines.
"""
