"""Pacing: the limiter, rate-limit headers and tiers, and what a request costs in tokens.

Pure pacing: it decides when a request may go, never sends it or stores it. May import `errors`;
not `store`, `api`, `run`, `batch`, `reports` or `fake`.
"""
