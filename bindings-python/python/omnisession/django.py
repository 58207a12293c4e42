"""A Django session engine over any omnisession backend.

```python
# settings.py
SESSION_ENGINE = "omnisession.django"
OMNISESSION = {"backend": "redis", "url": "redis://localhost:6379/0", "max_sessions_per_user": 5}
```

- ``OMNISESSION`` holds the options of ``omnisession.Store.open`` (anonymous sessions are
  allowed unless it says otherwise). One store per process, opened on first use and reopened
  in a forked child.
- Saves write only the keys that changed (per-key patches): parallel requests that change
  different keys both win. The session's lifetime is fixed when it is created
  (``SESSION_COOKIE_AGE``, or ``set_expiry`` before the first save).
- ``cycle_key`` rotates the id in the store (fixation defence); ``django.contrib.auth``'s
  login and logout work unchanged, and the logged-in user's id is attached to the session, so
  ``list_user_sessions(user)`` and ``revoke_user_sessions(user)`` (ASVS 7.4/7.5) see them.
- Every method has its async twin (``aload``, ``asave``, ``acycle_key``, ...).
"""

from __future__ import annotations

import copy
import os
import threading
from typing import Any, Dict, List, Optional, Tuple

from asgiref.sync import sync_to_async
from django.conf import settings  # type: ignore[import-untyped]
from django.contrib.sessions.backends.base import (  # type: ignore[import-untyped]
    CreateError,
    SessionBase,
    UpdateError,
)

from ._diff import changes
from ._native import Store
from .types import Session
from .exceptions import (
    SessionConflictError,
    SessionExpiredError,
    SessionInvalidError,
    SessionNotFoundError,
)

__all__ = ["SessionStore", "get_store", "list_user_sessions", "revoke_user_sessions"]

_lock = threading.Lock()
_store: Optional[Tuple[int, Store]] = None

_AUTH_USER = "_auth_user_id"


def get_store() -> Store:
    """The process's store, opened from ``settings.OMNISESSION`` on first use."""
    global _store
    pid = os.getpid()
    with _lock:
        if _store is None or _store[0] != pid:
            options: Dict[str, Any] = {"allow_anonymous": True}
            options.update(getattr(settings, "OMNISESSION", {}))
            _store = (pid, Store.open(**options))
        return _store[1]


def reset_store() -> None:
    """Closes the process's store (tests, settings changes); the next use reopens it."""
    global _store
    with _lock:
        if _store is not None and _store[0] == os.getpid():
            _store[1].close()
        _store = None


def _user_key(user: Any) -> str:
    return str(getattr(user, "pk", user))


def list_user_sessions(user: Any) -> List[Session]:
    """The user's live sessions (a model instance or its primary key), oldest first."""
    return get_store().list_by_user_id(_user_key(user))


def revoke_user_sessions(user: Any, keep: Optional[str] = None) -> int:
    """Deletes the user's sessions, except ``keep`` (e.g. the current one); returns how many."""
    store = get_store()
    if keep is None:
        return store.delete_by_user_id(_user_key(user))
    removed = 0
    for s in store.list_by_user_id(_user_key(user)):
        if s["id"] != keep:
            store.delete(s["id"])
            removed += 1
    return removed


class SessionStore(SessionBase):  # type: ignore[misc]
    """``SESSION_ENGINE = "omnisession.django"``."""

    _session_key: Optional[str]

    def __init__(self, session_key: Optional[str] = None) -> None:
        super().__init__(session_key)
        self._record: Optional[Session] = None
        self._snapshot: Dict[str, Any] = {}

    # -- loading ---------------------------------------------------------------------------

    def _fetch(self, key: Optional[str]) -> Optional[Session]:
        if not key:
            return None
        try:
            return get_store().get(key)
        except SessionInvalidError:
            return None

    def load(self) -> Dict[str, Any]:
        self._record = self._fetch(self.session_key)
        if self._record is None:
            self._session_key = None
            self._snapshot = {}
            return {}
        self._snapshot = copy.deepcopy(self._record["data"])
        return dict(self._record["data"])

    def exists(self, session_key: Optional[str]) -> bool:
        return self._fetch(session_key) is not None

    # -- writing ---------------------------------------------------------------------------

    def _user(self, data: Dict[str, Any]) -> Optional[str]:
        uid = data.get(_AUTH_USER)
        return None if uid is None else str(uid)

    def create(self) -> None:
        data = getattr(self, "_session_cache", None) or {}
        self._insert(data)
        self.modified = True

    def _insert(self, data: Dict[str, Any]) -> None:
        record = get_store().create(self._user(data), data=data, ttl=self.get_expiry_age())
        self._adopt(record)

    def _adopt(self, record: Session) -> None:
        self._record = record
        self._session_key = record["id"]
        self._snapshot = copy.deepcopy(record["data"])

    def save(self, must_create: bool = False) -> None:
        if self.session_key is None or must_create and self._record is None:
            if must_create and self.session_key is not None:
                try:
                    record = get_store().create(
                        self._user(self._get_session(no_load=True)),
                        id=self.session_key,
                        data=self._get_session(no_load=True),
                        ttl=self.get_expiry_age(),
                    )
                except SessionConflictError:
                    raise CreateError from None
                self._adopt(record)
                return
            return self.create()
        data = self._get_session(no_load=False)
        store = get_store()
        user = self._user(data)
        try:
            if user is not None and (self._record is None or self._record["user_id"] != user):
                # Login: attach the user (whole-record write), the index and limits apply.
                record = store.update({"id": self.session_key, "data": data, "user_id": user})
            else:
                set_, unset = changes(self._snapshot, data)
                if not set_ and not unset and self._record is not None:
                    return
                record = store.patch(self.session_key, set_, unset)
        except (SessionNotFoundError, SessionExpiredError):
            raise UpdateError from None
        self._adopt(record)

    def delete(self, session_key: Optional[str] = None) -> None:
        key = session_key if session_key is not None else self.session_key
        if not key:
            return
        try:
            get_store().delete(key)
        except SessionInvalidError:
            pass
        if key == self.session_key:
            self._record = None
            self._snapshot = {}

    def cycle_key(self) -> None:
        """A new id for the same session (rotated in the store: the old id is gone at once)."""
        data = self._session
        record = self._record if self._record is not None else self._fetch(self.session_key)
        if record is None:
            self._session_cache = data
            self._session_key = None
            self.create()
            return
        self._adopt(get_store().rotate(record["id"]))
        self._session_cache = data
        self.modified = True

    @classmethod
    def clear_expired(cls) -> None:
        get_store().cleanup()

    # -- async twins (the blocking store releases the GIL; run it off the event loop) ------

    async def aload(self) -> Dict[str, Any]:
        return await sync_to_async(self.load)()

    async def aexists(self, session_key: Optional[str]) -> bool:
        return await sync_to_async(self.exists)(session_key)

    async def acreate(self) -> None:
        await sync_to_async(self.create)()

    async def asave(self, must_create: bool = False) -> None:
        await sync_to_async(self.save)(must_create)

    async def adelete(self, session_key: Optional[str] = None) -> None:
        await sync_to_async(self.delete)(session_key)

    async def acycle_key(self) -> None:
        await self._aget_session()
        await sync_to_async(self.cycle_key)()

    @classmethod
    async def aclear_expired(cls) -> None:
        await sync_to_async(cls.clear_expired)()
