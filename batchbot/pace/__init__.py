"""Pacing: when a request may go, from the rate limits and the server's rate-limit headers.

Pure pacing: it never sends, counts or stores a request. docs/limits.md describes the limiter.
"""
