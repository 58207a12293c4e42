"""One process that exits right after its last await (run many times by exit_stress.py).

Every path that takes the GIL from a runtime thread is busy at exit: results of many
concurrent operations, violation callbacks, and an async custom backend.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, Dict, Optional

import omnisession


class Backend:
    def __init__(self) -> None:
        self.records: Dict[str, str] = {}

    async def get(self, id: str) -> Optional[str]:
        return self.records.get(id)

    async def set(self, id: str, record: str, **_: Any) -> None:
        self.records[id] = record

    def delete(self, id: str) -> None:
        self.records.pop(id, None)


async def main(kind: str) -> None:
    seen = []
    options: Dict[str, Any] = {"on_violation": seen.append, "max_session_size": 400}
    if kind == "custom":
        options["backend"] = Backend()
    store = await omnisession.AsyncStore.open(**options)
    sessions = await asyncio.gather(*(store.create("u", data={"i": i}) for i in range(20)))
    await asyncio.gather(
        *(store.get(s["id"]) for s in sessions),
        *(store.get("malformed") for _ in range(10)),  # violations in flight at exit
        return_exceptions=True,
    )
    await store.patch(sessions[0]["id"], {"last": True})


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "memory"))
