"""Violation events as Prometheus metrics (Python): ``on_violation`` increments a
prometheus_client Counter labelled by ``type``. Trips two controls on a memory store, then
prints the /metrics text."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

from prometheus_client import CollectorRegistry, Counter, disable_created_metrics, generate_latest

from omnisession import AsyncStore, SessionSizeExceededError

# Every type docs/design.md defines, set to 0 up front: a series that exists before its first
# violation lets rate() and alerts see the first increase.
TYPES = ["size_exceeded", "not_serializable", "invalid_session", "session_limit_exceeded", "site_mismatch", "malformed_id"]

# The core also logs each violation (WARNING, logger "omnisession"): to stderr here, so that
# stdout is the exposition text alone.
logging.basicConfig(stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
disable_created_metrics()  # only the counters themselves in the output, no *_created series
registry = CollectorRegistry()
violations = Counter("omnisession_violations", "Session policy violations reported by omnisession, by type.",
                     ["type"], registry=registry)
for t in TYPES:
    violations.labels(type=t)


async def main() -> None:
    received = asyncio.Event()
    count = 0

    def on_violation(event: Any) -> None:
        # Runs on the loop the store was opened on, after the operation; keep it cheap.
        nonlocal count
        violations.labels(type=event["type"]).inc()
        count += 1
        if count == 3:
            received.set()

    async with await AsyncStore.open(max_session_size=1024, max_sessions_per_user=1, on_violation=on_violation) as store:
        # 1 x size_exceeded: a session over 1024 bytes is refused before anything is stored.
        try:
            await store.create("alice", data={"note": "x" * 2000})
        except SessionSizeExceededError:
            pass
        # 2 x session_limit_exceeded: one session per user, so each new login evicts the previous one.
        for _ in range(3):
            await store.create("bob")
        # Events reach the callback asynchronously: wait for the three this script caused.
        try:
            await asyncio.wait_for(received.wait(), timeout=2)
        except asyncio.TimeoutError:
            pass  # printed as they are; the counts tell what arrived

    # What a GET /metrics handler would answer (with CONTENT_TYPE_LATEST).
    sys.stdout.write(generate_latest(registry).decode())


if __name__ == "__main__":
    asyncio.run(main())
