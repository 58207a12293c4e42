"""A Django session engine over any omnisession backend.

```python
# settings.py
SESSION_ENGINE = "omnisession.django"
OMNISESSION = {"backend": "redis", "url": "redis://localhost:6379/0", "max_sessions_per_user": 5}
```

``OMNISESSION`` holds the options of ``omnisession.Store.open`` (anonymous sessions allowed
unless it says otherwise); one store per process, reopened after a fork. Each step of Django's
session cycle is one call of the store: load is ``get``; a save is a ``patch`` of the changed
keys, always with the expiry Django computes (``set_expiry`` at any time, ``SESSION_COOKIE_AGE``;
a past date saves an expired session), the first save a ``create``, ``save(must_create=True)``
a ``create`` of that key or ``CreateError``; ``delete``/``flush`` is ``delete`` (a parallel
request's save then raises ``UpdateError`` rather than revive it). A save that signs a user in
(``django.contrib.auth.login``, of the same user again too) or changes the user is ``login``: a
new id, the old one ended, the per-user limit applied, the data kept only from an anonymous
session or one of that user; ``cycle_key`` is ``login`` when the session holds a user, else
``rotate``. Data is stored as Django's ``JSONSerializer`` stores it (int keys become strings,
tuples lists); what that refuses, the store refuses (``SessionNotSerializableError``). A forged,
malformed or replayed id is logged to ``django.security.SuspiciousSession``, then passed to
``OMNISESSION["on_violation"]`` if set. The async twins (``aload``, ``asave``, ...) are Django's.
A login records the request's User-Agent on the session (``user_logged_in`` hands over the
request), and its ``REMOTE_ADDR`` only with ``OMNISESSION_RECORD_IP_ADDRESS = True``: an address
is personal data (behind a proxy, set ``REMOTE_ADDR`` from it in a middleware of yours).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import os
import threading
from datetime import datetime
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from asgiref.sync import sync_to_async
from django.conf import settings  # type: ignore[import-untyped]
from django.contrib.auth import SESSION_KEY  # type: ignore[import-untyped]
from django.contrib.auth.signals import user_logged_in  # type: ignore[import-untyped]
from django.contrib.sessions.backends.base import CreateError, SessionBase, UpdateError  # type: ignore[import-untyped]
from django.core.signing import JSONSerializer  # type: ignore[import-untyped]
from django.utils import timezone  # type: ignore[import-untyped]

from ._diff import changes
from ._native import Store
from .exceptions import SessionConflictError, SessionGoneError, SessionInvalidError
from .types import Session, Violation

__all__ = ["SessionStore", "get_store", "reset_store", "list_user_sessions", "revoke_user_sessions"]

_lock = threading.Lock()
_store: Optional[Tuple[int, Store]] = None
# What Django's own engines log as a SuspiciousSession: someone presenting an id they should not,
# or (the sealed engine, omnisession.django_cookies) a cookie value a client should never send;
# an expired value is an ordinary old cookie.
_SUSPICIOUS = frozenset({
    "site_mismatch", "malformed_id", "replayed_id",
    "cookie_malformed", "cookie_tampered", "cookie_oversized", "cookie_duplicated",
})
_security = logging.getLogger("django.security.SuspiciousSession")
_json = JSONSerializer()


def _on_violation(project: Optional[Callable[[Violation], Any]], event: Violation) -> Any:
    if event["type"] in _SUSPICIOUS:
        _security.warning("%s", event["message"])
    return None if project is None else project(event)


def get_store() -> Store:
    """The process's store, opened from ``settings.OMNISESSION`` on first use."""
    global _store
    pid = os.getpid()
    with _lock:
        if _store is None or _store[0] != pid:
            options: Dict[str, Any] = {"allow_anonymous": True, **getattr(settings, "OMNISESSION", {})}
            options["on_violation"] = functools.partial(_on_violation, options.get("on_violation"))
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
    others = [s["id"] for s in store.list_by_user_id(_user_key(user)) if s["id"] != keep]
    for session_id in others:
        store.delete(session_id)
    return len(others)


@contextlib.contextmanager
def _not_revived() -> Iterator[None]:
    """A session deleted meanwhile (a logout in a parallel request) stays deleted."""
    try:
        yield
    except SessionGoneError:
        raise UpdateError from None


class SessionStore(SessionBase):  # type: ignore[misc]
    """``SESSION_ENGINE = "omnisession.django"``."""

    _session_key: Optional[str]

    def __init__(self, session_key: Optional[str] = None) -> None:
        super().__init__(session_key)
        self._record: Optional[Session] = None  # as last read or written: what the diff starts from
        self._signed_in = False  # django.contrib.auth.login ran: the next save is a login
        self._device: Dict[str, str] = {}  # that login's user_agent (and opted-in ip_address)

    def load(self) -> Dict[str, Any]:
        self._record = get_store().get(self.session_key) if self.session_key else None
        if self._record is None:
            self._session_key = None
            return {}
        return copy.deepcopy(self._record["data"])

    def exists(self, session_key: Optional[str]) -> bool:
        return session_key is not None and get_store().get(session_key) is not None

    def _data(self, no_load: bool = False) -> Dict[str, Any]:
        """The data as JSONSerializer stores it; what that refuses, the store refuses, naming where."""
        data: Dict[str, Any] = self._get_session(no_load=no_load)
        try:
            return _json.loads(_json.dumps(data))  # type: ignore[no-any-return]
        except (TypeError, ValueError):
            return data

    def _expiry(self) -> datetime:
        """When the session ends, as Django computes it: an instant, never mistaken for "never"."""
        expiry: datetime = self.get_expiry_date()
        return timezone.make_aware(expiry) if timezone.is_naive(expiry) else expiry

    def _changes(self, data: Dict[str, Any]) -> Tuple[Dict[str, Any], List[str]]:
        return changes({} if self._record is None else self._record["data"], data)

    def _adopt(self, record: Session) -> None:
        self._record = record
        self._session_key = record["id"]
        self._signed_in = False

    def _login(self, user: str, data: Dict[str, Any]) -> None:
        """The store's login from the current key; the session holds what the store kept."""
        set_, unset = self._changes(data)
        record = get_store().login(user, from_id=self.session_key, set=set_, unset=unset, expires_at=self._expiry(),
                                   user_agent=self._device.get("user_agent"), ip_address=self._device.get("ip_address"))
        self._adopt(record)
        self._session_cache = copy.deepcopy(record["data"])

    def create(self) -> None:
        data = self._data()
        self._adopt(get_store().create(_user_of(data), data=data, expires_at=self._expiry()))
        self.modified = True

    def save(self, must_create: bool = False) -> None:
        if self.session_key is None:
            return self.create()
        data, store = self._data(no_load=must_create), get_store()
        if self.session_key is None:
            raise UpdateError  # read just now, and gone: ended by a parallel request, not revived
        if must_create:  # this very key, or CreateError: never a write over an existing session
            try:
                record = store.create(_user_of(data), id=self.session_key, data=data, expires_at=self._expiry())
            except SessionConflictError:
                raise CreateError from None
            return self._adopt(record)
        user = _user_of(data)
        with _not_revived():
            if user is not None and (self._signed_in or self._record is None or user != self._record["user_id"]):
                return self._login(user, data)
            if self._record is None:  # cleared before it was read: the whole dict is the session
                record = store.update({"id": self.session_key, "data": data, "expires_at": self._expiry()})
            else:
                record = store.patch(self.session_key, *self._changes(data), expires_at=self._expiry())
        self._adopt(record)

    def cycle_key(self) -> None:
        """A new id for the same session; the old id is ended at once."""
        data = self._data()  # loads it first: an unknown key has no session to keep
        if self.session_key is None:
            return self.create()
        user = _user_of(data)
        with _not_revived():
            if user is not None:
                self._login(user, data)
            else:
                self._adopt(get_store().rotate(self.session_key))
        self.modified = True  # the cookie must carry the new id; pending changes are saved with it

    async def acycle_key(self) -> None:
        await sync_to_async(self.cycle_key)()

    def delete(self, session_key: Optional[str] = None) -> None:
        key = self.session_key if session_key is None else session_key
        if key:
            with contextlib.suppress(SessionInvalidError):  # a malformed id from a cookie: nothing to delete
                get_store().delete(key)
        if key == self.session_key:
            self._record = None

    @classmethod
    def clear_expired(cls) -> None:
        get_store().cleanup()


def _user_of(data: Dict[str, Any]) -> Optional[str]:
    return None if data.get(SESSION_KEY) is None else str(data[SESSION_KEY])


def _on_login(sender: Any, request: Any, **kwargs: Any) -> None:
    # Django keeps the key when the same user signs in again; here every login gets a new id.
    session = getattr(request, "session", None)
    if isinstance(session, SessionStore):
        session._signed_in = True
        session._device = _device_of(request)


def _device_of(request: Any) -> Dict[str, str]:
    """The signing-in request's User-Agent, and its address when the project opted in."""
    meta = getattr(request, "META", {})
    device: Dict[str, str] = {}
    agent = meta.get("HTTP_USER_AGENT")
    if agent:
        device["user_agent"] = str(agent)
    if getattr(settings, "OMNISESSION_RECORD_IP_ADDRESS", False) is True and meta.get("REMOTE_ADDR"):
        device["ip_address"] = str(meta["REMOTE_ADDR"])
    return device


user_logged_in.connect(_on_login, dispatch_uid="omnisession.django")
