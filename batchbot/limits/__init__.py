"""Rate limits a run starts from: the tier presets (`tiers`), and the limits chosen for a run,
each with where it came from (`limits`).

docs/limits.md describes the presets and the order in which flags, the job and the server win.
"""
