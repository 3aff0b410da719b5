"""Where a run starts pacing: the limits the server stated to the last run on the same key,
base URL and model, kept in the database (`store.remembered`), so a rerun needs no probe.

Memories older than `MAX_AGE_S` are not used: a tier may have changed since. Younger ones are
a better start than any preset, and the server's headers correct them as before. Runs against
the built-in fake server are not remembered: each has a server of its own.
"""

from __future__ import annotations

import logging

from batchbot.logs import NOTICE
from batchbot.pace import notices
from batchbot.pace.limiter import Limiter
from batchbot.store.remembered import ServerLimits, remember_limits, remembered_limits
from batchbot.store.store import Store
from batchbot.sync.neighbours import ServerId

MAX_AGE_S = 30 * 86400

log = logging.getLogger("batchbot")


def recall_limits(limiter: Limiter, store: Store, server: ServerId) -> None:
    """Start `limiter` from what the server stated to the last run, and say so."""
    limits = remembered_limits(store.db, server.key_hash, server.base_url, server.model)
    if limits is None or limits.age_s() > MAX_AGE_S:
        return
    limiter.start_from(limits.rpm, limits.tpm)
    limiter.calibration.start_from(server.model or None, limits.token_count)
    note = notices.remembered(limiter.rpm, limiter.tpm, limits.age_s())
    log.info(note, extra={NOTICE: True})


def keep_limits(limiter: Limiter, store: Store, server: ServerId) -> None:
    """Keep what the server stated to this run, for the next."""
    stated = limiter.stated
    if not stated:
        return
    count = limiter.calibration.chosen(server.model or None)
    limits = ServerLimits(stated.get("requests"), stated.get("tokens"), count)
    remember_limits(store, server.key_hash, server.base_url, server.model, limits)
