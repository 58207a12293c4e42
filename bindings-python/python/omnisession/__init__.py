"""omnisession: server-side sessions with one Rust core and every control.

```python
from omnisession import AsyncStore, Store, SessionError

store = await AsyncStore.open(backend="sqlite", path="sessions.db", max_sessions_per_user=3)
session = await store.create("alice", data={"cart": []})
```

``AsyncStore`` is for asyncio and uvloop, ``Store`` blocks (and releases the GIL) for Django,
WSGI and scripts; both are context managers. Sessions are dicts with the wire field names and
UTC-aware datetimes. Every failure raises a subclass of ``SessionError`` with ``.code``.
"""

from __future__ import annotations

import atexit
import os

from . import _callbacks
from ._native import (
    AsyncStore,
    ManualClock,
    MemoryBackend,
    Sealer,
    SeedsOpener,
    Store,
    _after_fork,
    _shutdown,
    hash_session_id,
)
from .exceptions import (
    BackendError,
    BackendUnavailableError,
    ConfigInvalidError,
    SessionConflictError,
    SessionError,
    SessionExpiredError,
    SessionGoneError,
    SessionInvalidError,
    SessionLimitExceededError,
    SessionNotFoundError,
    SessionNotSerializableError,
    SessionSizeExceededError,
    StoreClosedError,
    error_class,
)
from .types import JSON, Session, SessionPage, Violation

__all__ = [
    "AsyncStore",
    "Store",
    "ManualClock",
    "MemoryBackend",
    "Sealer",
    "SeedsOpener",
    "hash_session_id",
    "SessionError",
    "SessionInvalidError",
    "SessionNotSerializableError",
    "SessionSizeExceededError",
    "SessionGoneError",
    "SessionNotFoundError",
    "SessionExpiredError",
    "SessionLimitExceededError",
    "SessionConflictError",
    "StoreClosedError",
    "BackendUnavailableError",
    "BackendError",
    "ConfigInvalidError",
    "error_class",
    "JSON",
    "Session",
    "SessionPage",
    "Violation",
]

# Runtime threads must not take the GIL while the interpreter finalizes: stop them first.
atexit.register(_shutdown)


def _forked() -> None:
    _after_fork()
    _callbacks._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)
