"""A Django session engine that keeps the whole session in the cookie, sealed by the core's
``Sealer`` (AES-256-GCM): a drop-in for ``django.contrib.sessions.backends.signed_cookies``.

```python
# settings.py
SESSION_ENGINE = "omnisession.django_cookies"
OMNISESSION_SEALED = {
    # (key id, 32 bytes): the first seals, every one opens. Rotate: put the new key first.
    "keys": [("2025-06", key_2025_06), ("2025-01", key_2025_01)],
    # optional: "max_cookie_bytes": 4096, "on_violation": callable
}
MIDDLEWARE = ["omnisession.django_cookies.SessionMiddleware", ...]  # optional, see below
```

``OMNISESSION_SEALED`` holds the options of ``omnisession.Sealer`` except the cookie name, which
is ``SESSION_COOKIE_NAME`` (the value is bound to it); one sealer per process, rebuilt when
those settings change. Unlike ``signed_cookies``, the data is encrypted (a client cannot read
it), not only signed, and its expiry is sealed in: every save seals ``get_expiry_date()``, so
``set_expiry`` holds too (Django's #19201), and an expired value opens to nothing. Each step is
the core's:

- load: ``Sealer.open``; a malformed, tampered (altered, another key, another cookie),
  expired, oversized or duplicated value is an empty session, and Django's
  ``SessionMiddleware`` then clears the cookie. The core's event (``cookie_malformed``,
  ``cookie_tampered``, ``cookie_expired``, ``cookie_oversized``, ``cookie_duplicated``) goes to
  ``OMNISESSION_SEALED["on_violation"]`` if set; all but ``cookie_expired`` are also logged to
  ``django.security.SuspiciousSession``. Django loads a session when a view first reads it.
- save and ``cycle_key`` (``django.contrib.auth.login``): a new seal, with a fresh nonce and the
  first key, of the data as Django's ``JSONSerializer`` stores it, the user of
  ``django.contrib.auth`` (``_auth_user_id``) as the sealed user (a value sealed elsewhere
  with a user and no ``_auth_user_id`` keeps its user until a flush); what JSON cannot hold is
  ``SessionNotSerializableError``, a session larger than ``max_cookie_bytes`` (4096 by
  default, counted on ``name=value``) ``SessionSizeExceededError``. ``cycle_key`` starts a new
  ``created_at``; Django's login already keeps the data only from an anonymous session or the
  same user's (``flush`` otherwise).
- ``delete``/``flush``: no session, and the cookie cleared. A sealed value cannot be revoked: a
  copy of it opens until its expiry, as with ``signed_cookies``.

A value opened under an older key than the first is sealed again with the first by that
response (a save, so with Django's expiry), which moves clients to the current key.

Django's stock ``SessionMiddleware`` hands the engine one value of the cookie as Django parses
it (the last one when a request carries it twice, unquoted, dropped when shorter than 8
characters). ``omnisession.django_cookies.SessionMiddleware`` is that middleware reading the
``Cookie`` header as the other omnisession adapters do, so that a cookie sent twice (one planted
by a sibling domain, say) is refused and every value that does not open is reported.
"""

from __future__ import annotations

import functools
import os
import threading
from datetime import datetime
from typing import Any, Dict, List, Optional, Tuple

from django.conf import settings  # type: ignore[import-untyped]
from django.contrib.auth import SESSION_KEY  # type: ignore[import-untyped]
from django.contrib.sessions.backends.base import SessionBase  # type: ignore[import-untyped]
from django.contrib.sessions.middleware import (  # type: ignore[import-untyped]
    SessionMiddleware as DjangoSessionMiddleware,
)
from django.core.signals import setting_changed  # type: ignore[import-untyped]
from django.utils import timezone  # type: ignore[import-untyped]

from ._native import Sealer
from .django import _json, _on_violation
from .exceptions import ConfigInvalidError
from ._cookie import cookie_values

__all__ = ["SessionStore", "SessionMiddleware", "get_sealer", "reset_sealer"]

_lock = threading.Lock()
_sealer: Optional[Tuple[int, Sealer]] = None
_OPTIONS = frozenset({"keys", "max_cookie_bytes", "on_violation"})


def get_sealer() -> Sealer:
    """The process's sealer, built from ``settings.OMNISESSION_SEALED`` on first use."""
    global _sealer
    pid = os.getpid()
    with _lock:
        if _sealer is None or _sealer[0] != pid:
            options: Dict[str, Any] = dict(getattr(settings, "OMNISESSION_SEALED", None) or {})
            unknown = sorted(set(options) - _OPTIONS)
            if unknown:
                raise ConfigInvalidError(f"CONFIG_INVALID: OMNISESSION_SEALED has no option {unknown[0]!r}",
                                         {"option": unknown[0]})
            if "keys" not in options:
                raise ConfigInvalidError("CONFIG_INVALID: OMNISESSION_SEALED['keys'] is required: "
                                         "[(key_id, 32 bytes), ...]", {"option": "keys"})
            on_violation = functools.partial(_on_violation, options.get("on_violation"))
            sealer = Sealer(options["keys"], settings.SESSION_COOKIE_NAME, options.get("max_cookie_bytes"),
                            on_violation)
            _sealer = (pid, sealer)
        return _sealer[1]


def reset_sealer() -> None:
    """Forgets the process's sealer (tests, settings changes); the next use rebuilds it."""
    global _sealer
    with _lock:
        _sealer = None


def _settings_changed(setting: str, **kwargs: Any) -> None:
    if setting in ("OMNISESSION_SEALED", "SESSION_COOKIE_NAME"):
        reset_sealer()


setting_changed.connect(_settings_changed, dispatch_uid="omnisession.django_cookies")


class SessionStore(SessionBase):  # type: ignore[misc]
    """``SESSION_ENGINE = "omnisession.django_cookies"``: the session key is the sealed value."""

    _session_key: Optional[str]
    _session_cache: Dict[str, Any]

    def __init__(self, session_key: Optional[str] = None) -> None:
        super().__init__(session_key)
        # Every value of the cookie in the request, when SessionMiddleware below read them.
        self._presented: Optional[List[str]] = None
        self._created_at: Optional[datetime] = None
        # The sealed user of a value whose data names none (sealed by another host): kept.
        self._host_user: Optional[str] = None

    def load(self) -> Dict[str, Any]:
        if self._presented is not None:
            values, self._presented = self._presented, None
        else:
            values = [] if self.session_key is None else [self.session_key]
        opened = get_sealer().open(values)
        session = opened["session"]
        if session is None:
            # Not a session (the core reported why): empty, and no key, so Django's
            # SessionMiddleware clears the cookie unless data is written.
            self._session_key = None
            return {}
        self._created_at = session["created_at"]
        if SESSION_KEY not in session["data"]:
            self._host_user = session["user_id"]
        if opened.get("stale"):
            # Sealed with an older key than the first: this response's save seals it again with
            # the first, so that clients move to the current key (rotation).
            self.modified = True
        return session["data"]

    async def aload(self) -> Dict[str, Any]:
        return self.load()

    def exists(self, session_key: Optional[str] = None) -> bool:
        """Nothing is stored server-side: no key ever exists (as for ``signed_cookies``)."""
        return False

    async def aexists(self, session_key: Optional[str] = None) -> bool:
        return self.exists(session_key)

    def create(self) -> None:
        """The cookie is set for this request (as ``signed_cookies`` does)."""
        self.modified = True

    async def acreate(self) -> None:
        self.create()

    def save(self, must_create: bool = False) -> None:
        """Seals the session into a new key (the cookie value) for this response."""
        self._session_key = self._seal(self._get_session(no_load=must_create))
        self.modified = True

    async def asave(self, must_create: bool = False) -> None:
        self.save(must_create=must_create)

    def _seal(self, data: Dict[str, Any]) -> str:
        try:  # the data as JSONSerializer stores it; what it refuses, the core refuses, naming where
            data = _json.loads(_json.dumps(data))
        except (TypeError, ValueError):
            pass
        user = data.get(SESSION_KEY, self._host_user) if isinstance(data, dict) else None
        expires_at: datetime = self.get_expiry_date()
        if timezone.is_naive(expires_at):
            expires_at = timezone.make_aware(expires_at)
        if self._created_at is None:
            self._created_at = timezone.now()
        return get_sealer().seal(None if user is None else str(user), data=data, created_at=self._created_at,
                                 expires_at=expires_at)

    def delete(self, session_key: Optional[str] = None) -> None:
        """No session: an empty one, and the cookie cleared (as ``signed_cookies`` does)."""
        self._session_key = ""
        self._session_cache = {}
        self._created_at = None
        self._host_user = None
        self.modified = True

    async def adelete(self, session_key: Optional[str] = None) -> None:
        self.delete(session_key)

    def cycle_key(self) -> None:
        """A new seal (a fresh nonce) of the same data, as a new session from now."""
        self._get_session()  # loads it first: a value that does not open has nothing to keep
        self._created_at = None
        self.save()

    async def acycle_key(self) -> None:
        self.cycle_key()

    @classmethod
    def clear_expired(cls) -> None:
        """Nothing to clear: an expired value opens to nothing."""

    @classmethod
    async def aclear_expired(cls) -> None:
        pass


class SessionMiddleware(DjangoSessionMiddleware):  # type: ignore[misc]
    """Django's ``SessionMiddleware``, handing the engine every value of the session cookie as
    the request sent it: one sent twice is refused (``cookie_duplicated``) instead of one being
    picked, a quoted value is not unquoted, and an empty or short one (which Django's key rules
    would drop unseen) reaches the core, which refuses and reports it."""

    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        if issubclass(self.SessionStore, SessionStore):
            get_sealer()  # a bad OMNISESSION_SEALED fails when the server starts, not on a request

    def process_request(self, request: Any) -> None:
        super().process_request(request)
        session = request.session
        if not isinstance(session, SessionStore):
            return
        values = cookie_values(request.META.get("HTTP_COOKIE", ""), settings.SESSION_COOKIE_NAME)
        if values:
            session._presented = values
            # Django loads a session only when it has a key: one of the values, or a stand-in
            # when Django's rules drop it (empty, too short), replaced by the load.
            session._session_key = values[0] if len(values) == 1 else None
            if session.session_key is None:
                session._session_key = "presented"
