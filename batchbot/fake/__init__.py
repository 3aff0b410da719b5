"""The simulated OpenAI API that `--fake` and the tests talk to over 127.0.0.1.

A separate program: it imports nothing of batchbot's client side (no token counting, no
pacing), so the tests can catch batchbot counting or pacing wrong.
"""
