"""The limits a server stated to the last run on a key, base URL and model: where a rerun starts.

A run that starts from a tier preset does not know the real limits until the server answers, so
it sends one request alone first (the probe, see `pace.limiter`). The next run on the same key,
server and model need not: it starts from what the last one read, and says how old that is.
The key is stored as a hash of it (`sync.neighbours.key_hash`), never itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlite_utils import Database

from batchbot.store.store import Store
from batchbot.store.transactions import write_transaction

TABLE = "server_limits"


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """What a server stated: its limits (None: not stated) and how it counts tokens."""

    rpm: int | None
    tpm: int | None
    token_count: str | None
    seen_at: str = ""  # UTC ISO-8601

    def age_s(self, now: datetime | None = None) -> float:
        """Seconds since a run read them."""
        seen = datetime.fromisoformat(self.seen_at)
        return ((now or datetime.now(UTC)) - seen).total_seconds()


def remembered_limits(
    db: Database, key_hash: str, base_url: str, model: str
) -> ServerLimits | None:
    """What the last run on this key, base URL and model read; None if none did."""
    row = db.execute(
        f"SELECT rpm, tpm, token_count, seen_at FROM {TABLE} "
        "WHERE key_hash = ? AND base_url = ? AND model = ?",
        [key_hash, base_url, model],
    ).fetchone()
    return None if row is None else ServerLimits(*row)


def remember_limits(
    store: Store, key_hash: str, base_url: str, model: str, limits: ServerLimits
) -> None:
    """Keep what this run read, for the next run on the same key, base URL and model."""
    row: dict[str, object] = {"key_hash": key_hash, "base_url": base_url, "model": model}
    row |= {"rpm": limits.rpm, "tpm": limits.tpm, "token_count": limits.token_count}
    row["seen_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    with write_transaction(store.db):
        store.db.table(TABLE).upsert(row, pk=("key_hash", "base_url", "model"))
