"""SQLite: the only writer, its migrations, and one door for readers.

Knows nothing of HTTP: may import `outcome`, `jobs` values and `errors` only.
"""
