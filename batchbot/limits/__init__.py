"""Rate limits a run starts from: the tier presets and where each limit came from.

docs/limits.md describes the presets and the order in which flags, the job and the server win.
"""
