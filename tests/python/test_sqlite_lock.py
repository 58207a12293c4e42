"""A SQLite file write-locked by another process never holds the event loop: reads keep being
served at once (WAL readers wait for no writer), writes wait for the lock off the loop's
thread, and a timer keeps its schedule.

The lock is held by another process on purpose: POSIX file locks do not conflict within one
process, and this process's `sqlite3` module is another SQLite than the one built into
omnisession, so neither would see the other's lock."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import omnisession

HOLD_S = 1.5
HOLDER = """
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
c.execute("COMMIT")
"""


def test_a_write_locked_file_never_delays_the_event_loop(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"

    async def main() -> None:
        store = await omnisession.AsyncStore.open(backend="sqlite", path=str(path))
        try:
            s = await store.create(user_id="u1", data={"n": 0})
            await store.get(s["id"])
            holder = await asyncio.create_subprocess_exec(
                sys.executable, "-c", HOLDER, str(path), str(HOLD_S), stdout=subprocess.PIPE
            )
            assert holder.stdout is not None
            assert await holder.stdout.readline() == b"locked\n"
            locked_at = time.monotonic()

            worst = 0.0

            async def tick() -> None:
                nonlocal worst
                last = time.monotonic()
                while True:
                    await asyncio.sleep(0.01)
                    now = time.monotonic()
                    worst = max(worst, now - last - 0.01)
                    last = now

            ticker = asyncio.create_task(tick())
            write = asyncio.ensure_future(store.patch(s["id"], {"n": 1}))
            for _ in range(200):
                got = await store.get(s["id"])
                assert got is not None and got["id"] == s["id"]
                await asyncio.sleep(0.002)
            written = await write
            waited = time.monotonic() - locked_at
            ticker.cancel()
            assert await holder.wait() == 0

            assert written["version"] == 2
            assert waited >= HOLD_S - 0.1, f"the write waited for the lock ({waited:.2f} s)"
            assert worst < 0.1, f"the timer fired up to {worst * 1000:.0f} ms late"
            again = await store.get(s["id"])
            assert again is not None and again["data"]["n"] == 1
        finally:
            await store.close()

    asyncio.run(main())
