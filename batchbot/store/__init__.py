"""SQLite: the only writer, its migrations, and one door for readers.

Knows nothing of HTTP: may import `outcome`, `jobs` values, `modes` and `errors` only
(docs/architecture.md).
"""

# How long a reader or the writer waits for another process's write lock before giving up.
BUSY_TIMEOUT_MS = 30_000
