"""Sealed cookie sessions for Starlette and FastAPI: the whole session travels in the cookie,
encrypted and authenticated by the core's ``Sealer`` (AES-256-GCM), and no store holds anything.

```python
from omnisession.starlette_sealed import SessionMiddleware, login, logout

# In place of starlette.middleware.sessions.SessionMiddleware(app, secret_key=...):
app.add_middleware(SessionMiddleware, keys=[("2025-06", key_2025_06), ("2025-01", key_2025_01)],
                   max_age=3600, https_only=True)

async def view(request):
    request.session["cart"] = [1, 2]        # sealed into the cookie when the response starts
    await login(request, user_id="alice")  # a new seal for alice: nothing of the old value left
```

A drop-in for ``starlette.middleware.sessions.SessionMiddleware``: ``request.session`` is a dict,
and the constructor takes the same ``session_cookie``, ``max_age``, ``path``, ``same_site``,
``https_only`` and ``domain`` (same defaults), with ``keys`` in place of ``secret_key``: pairs
``(key_id, 32 bytes)``, the first seals and every one opens, so a key is rotated by putting the
new one first and dropping the old one once its cookies have expired. ``login``, ``logout``,
``rotate`` and ``set_expiry`` are the helpers of ``omnisession.starlette``, with the same names
and meaning. Every rule is the core's (``omnisession.Sealer``); this module translates the
request cycle onto it:

- the request comes in: every value the request sent under the cookie's name is opened at once
  (``Sealer.open(values)``): none is no session; a malformed, tampered (altered, sealed with a
  key no longer in ``keys``, or moved from another cookie), expired, oversized or duplicated
  value is no session, a cleared cookie and the core's violation event (``cookie_malformed``,
  ``cookie_tampered``, ``cookie_expired``, ``cookie_oversized``, ``cookie_duplicated``) to
  ``on_violation`` (delivered as a store's), never an error; one that opened under an older
  key than the first is sealed again with the first by this response, its expiry unchanged;
- the response starts: when ``request.session`` changed (or a helper asked for it), the session
  is sealed again, with a fresh nonce and the first key, and the cookie sent; otherwise no
  ``Set-Cookie`` at all. An app that emptied ``request.session`` ended the session: the cookie
  is cleared;
- ``max_age`` (seconds or a ``timedelta``; ``None``: no expiry and a browser-session cookie) is
  sealed into a new session as its expiry, which the core checks on every open (a client cannot
  extend it); later writes keep it, and the cookie's Max-Age is always the time it has left.
  ``rolling=True`` renews it to ``max_age`` from now once half of it has passed;
- ``login(request, user_id)``: a new seal (new ``created_at``, expiry from now) for that user;
  the data is carried over only from an anonymous session or one of the same user, otherwise
  the new session holds only what this request set; ``logout``: no session, cookie cleared;
  ``rotate``: a new seal of the same session; ``set_expiry(request, ttl)``: the session ends
  ``ttl`` from this response.

A session that does not fit the cookie (``max_cookie_bytes``, 4096 by default, counted on
``name=value``) or holds what JSON cannot is the core's ``SessionSizeExceededError`` /
``SessionNotSerializableError`` when the response starts (or at ``login``): an app error, never
silently dropped by the browser. A bad option raises ``ConfigInvalidError`` naming it.
"""

from __future__ import annotations

import copy
import math
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, List, Mapping, MutableMapping, Optional, Sequence, Tuple, Type, Union

from ._cookie import MaxAge, SessionCookie, cookie_values
from ._diff import changes, same
from ._native import Sealer
from .exceptions import ConfigInvalidError, SessionInvalidError
from .types import Duration, UserId, Violation

__all__ = ["SessionMiddleware", "SealedSessionState", "login", "logout", "rotate", "set_expiry", "cookie_values"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Key = Tuple[str, Union[bytes, bytearray]]

# SessionCookie's option names, as Starlette's SessionMiddleware spells them.
_OPTION_NAMES = {"name": "session_cookie", "secure": "https_only", "samesite": "same_site"}
_DEFAULT_MAX_AGE = 14 * 24 * 60 * 60  # Starlette's default: two weeks
# Longest lifetime: now + this stays a datetime (year 9999) for thousands of years to come.
_MAX_SECONDS = 5000 * 365 * 24 * 60 * 60


class _SealedCookie(SessionCookie):
    """The cookie module's attribute checks and ``Set-Cookie`` writing, for a value the core
    sealed (nothing to sign: the seal authenticates it)."""

    def sign(self, session_id: str) -> str:
        return session_id


def _seconds(value: Duration, argument: str) -> float:
    """A non-negative duration (seconds or a ``timedelta``) in seconds."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        seconds = math.nan
    if not 0 <= seconds <= _MAX_SECONDS:
        raise SessionInvalidError(f"SESSION_INVALID: {argument} must be a non-negative timedelta or number of "
                                  "seconds", {"argument": argument})
    return seconds


class SealedSessionState:
    """The session of one request (``request.scope["omnisession"]``); ``request.session`` is
    its data, a plain dict."""

    _user_id: Optional[str]
    _created_at: Optional[datetime]
    _expires_at: Optional[datetime]
    _ttl: Optional[float]
    _sealed: Optional[Tuple[str, Dict[str, Any]]]
    _snapshot: Mapping[str, Any]

    def __init__(self, middleware: "SessionMiddleware", scope: Scope, opened: Mapping[str, Any]) -> None:
        self._mw = middleware
        self._scope = scope
        session = opened["session"]
        # The request carried the cookie, one that did not open included: when there is no
        # session to send back, the cookie is cleared.
        self._presented = session is not None or opened["reason"] is not None
        self._end()
        if session is not None:
            self._live = self._from_cookie = True
            # Sealed with an older key than the first: re-sealed by this response, expiry
            # unchanged, so that clients move to the current key (rotation).
            self._reseal = bool(opened.get("stale"))
            self._user_id = session["user_id"]
            self._created_at = session["created_at"]
            self._expires_at = session["expires_at"]
            self._adopt(session["data"])
            if middleware.rolling and self._expires_at is not None:
                assert middleware.max_age_seconds is not None  # checked in __init__
                left = self._expires_at - datetime.now(timezone.utc)
                self._renew = left < timedelta(seconds=middleware.max_age_seconds / 2)

    @property
    def user_id(self) -> Optional[str]:
        """The signed-in user, or None."""
        return self._user_id

    @property
    def is_new(self) -> bool:
        """The session did not come from the request's cookie: there was none, it did not
        open, or ``login``/``logout`` replaced it."""
        return not self._from_cookie

    @property
    def created_at(self) -> Optional[datetime]:
        return self._created_at

    @property
    def expires_at(self) -> Optional[datetime]:
        """The sealed expiry of the session as loaded or last sealed (None: none)."""
        return self._expires_at

    def _end(self) -> None:
        """No session (the initial state, and a logout's)."""
        self._live = False  # there is a session to send (data written after a logout starts a new one)
        self._from_cookie = False  # it is the session the request's cookie held
        self._user_id = None
        self._created_at = None
        self._expires_at = None
        self._ttl = None  # set_expiry's, in seconds from the response
        self._renew = False  # rolling: half of max_age has passed, a new expiry is due
        self._reseal = False  # rotate: a new seal is due even if nothing changed
        self._sealed = None  # login's value and the data in it
        self._adopt({})

    def _adopt(self, data: Mapping[str, Any]) -> None:
        """``data`` becomes the base of the next comparison and, copied, ``request.session``."""
        self._snapshot = data
        self._scope["session"] = copy.deepcopy(data)

    def _expiry(self, now: datetime) -> Optional[datetime]:
        """The expiry a new seal starts with: ``set_expiry``'s, else ``max_age`` from now."""
        seconds = self._mw.max_age_seconds if self._ttl is None else self._ttl
        return None if seconds is None else now + timedelta(seconds=seconds)

    def set_expiry(self, ttl: Duration) -> None:
        self._ttl = _seconds(ttl, "ttl")

    async def login(self, user_id: UserId) -> None:
        """Signs ``user_id`` in: a new seal for that user, carrying this request's changes."""
        if user_id is None:
            raise SessionInvalidError("SESSION_INVALID: user_id is required", {"argument": "user_id"})
        current: Dict[str, Any] = self._scope["session"]
        user = str(user_id)  # as the core stores an int user id; anything else fails the seal below
        if self._user_id is None or self._user_id == user:
            data = current
        else:
            data = changes(self._snapshot, current)[0]  # another user's data stays behind
        now = datetime.now(timezone.utc)
        expires_at = self._expiry(now)
        # Sealed now: the core checks the user id, the data and the size at the call.
        value = self._mw.sealer.seal(user_id, data=data, created_at=now, expires_at=expires_at)
        self._end()
        self._live = True
        self._user_id, self._created_at, self._expires_at = user, now, expires_at
        self._sealed = (value, copy.deepcopy(data))
        self._adopt(copy.deepcopy(data))

    async def rotate(self) -> None:
        """A new seal of the same session (a fresh nonce) with this response."""
        self._reseal = self._live

    async def logout(self) -> None:
        """Ends the session: no session, and the cookie cleared."""
        self._end()

    def commit(self) -> Optional[str]:
        """The ``Set-Cookie`` value that is due, if any (sealing the session when it changed)."""
        data: Dict[str, Any] = self._scope["session"]
        now = datetime.now(timezone.utc)
        if self._live and self._snapshot and not data:
            self._end()  # the app emptied request.session: the session is over
        if not self._live:
            if not data:  # no session: the cookie the request carried, if any, is cleared
                return self._mw.cookie.clear() if self._presented else None
            self._created_at, self._expires_at = now, self._expiry(now)  # a new anonymous session
            self._live = True
        elif self._ttl is not None or self._renew:
            self._expires_at = self._expiry(now)
        elif self._sealed is not None and same(self._sealed[1], data):
            return self._set_cookie(self._sealed[0], now)  # login's seal, nothing changed since
        elif not self._reseal and self._sealed is None and same(dict(self._snapshot), data):
            return None  # unchanged: no Set-Cookie
        assert self._created_at is not None
        value = self._mw.sealer.seal(self._user_id, data=data, created_at=self._created_at,
                                     expires_at=self._expires_at)
        self._sealed = (value, copy.deepcopy(data))
        self._ttl, self._renew, self._reseal = None, False, False
        return self._set_cookie(value, now)

    def _set_cookie(self, value: str, now: datetime) -> str:
        if self._expires_at is None:
            return self._mw.cookie.serialize(value, max_age=None)
        return self._mw.cookie.serialize(value, max_age=max(timedelta(0), self._expires_at - now), now=now)


def _state(request: Any) -> SealedSessionState:
    scope = request.scope if hasattr(request, "scope") else request
    state = scope.get("omnisession")
    if not isinstance(state, SealedSessionState):
        raise RuntimeError("omnisession.starlette_sealed.SessionMiddleware is not installed")
    return state


async def login(request: Any, user_id: UserId) -> None:
    """Signs ``user_id`` in: a new seal (session fixation defence), data kept only from an
    anonymous session or the same user's."""
    await _state(request).login(user_id)


async def logout(request: Any) -> None:
    """Ends the request's session and clears its cookie."""
    await _state(request).logout()


async def rotate(request: Any) -> None:
    """Seals the request's session again with a fresh nonce (e.g. on a privilege change)."""
    await _state(request).rotate()


def set_expiry(request: Any, ttl: Duration) -> None:
    """The session ends ``ttl`` (seconds or a ``timedelta``) from this response, which seals it."""
    _state(request).set_expiry(ttl)


def _invalid(option: str, message: str) -> ConfigInvalidError:
    return ConfigInvalidError(f"CONFIG_INVALID: {message}", {"option": option})


class SessionMiddleware:
    """ASGI middleware giving every HTTP request a ``request.session`` sealed into its cookie."""

    #: The cookie's attributes and ``Set-Cookie`` writing (the cookie module's).
    cookie_class: Type[SessionCookie] = _SealedCookie

    def __init__(
        self,
        app: Any,
        keys: Sequence[Key],
        session_cookie: str = "session",
        max_age: Optional[MaxAge] = _DEFAULT_MAX_AGE,
        path: str = "/",
        same_site: str = "lax",
        https_only: bool = False,
        domain: Optional[str] = None,
        *,
        rolling: bool = False,
        max_cookie_bytes: Optional[int] = None,
        on_violation: Optional[Callable[[Violation], Any]] = None,
    ) -> None:
        if not isinstance(rolling, bool):
            raise _invalid("rolling", "rolling must be a bool")
        if rolling and max_age is None:
            raise _invalid("rolling", "rolling=True needs max_age, the lifetime it renews")
        try:
            self.cookie = self.cookie_class(name=session_cookie, path=path, domain=domain, secure=https_only,
                                            httponly=True, samesite=same_site, max_age=max_age)
        except ConfigInvalidError as exc:
            option = str(exc.details.get("option"))
            raise ConfigInvalidError(exc.message, {"option": _OPTION_NAMES.get(option, option)}) from None
        self.sealer = Sealer(keys, session_cookie, max_cookie_bytes, on_violation)
        self.app = app
        self.max_age = max_age
        # max_age was checked by the cookie; it must also fit a datetime from now.
        self.max_age_seconds: Optional[float] = (
            None if max_age is None else max_age.total_seconds() if isinstance(max_age, timedelta) else float(max_age)
        )
        if self.max_age_seconds is not None and self.max_age_seconds > _MAX_SECONDS:
            raise _invalid("max_age", "max_age must be at most 5000 years")
        self.rolling = rolling

    def _load(self, scope: Scope) -> SealedSessionState:
        # HTTP/2 may split the Cookie header: every piece counts (a name given twice is refused).
        header = "; ".join(v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"cookie")
        opened = self.sealer.open(cookie_values(header, self.sealer.cookie_name))
        return SealedSessionState(self, scope, opened)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        state = self._load(scope)
        scope["omnisession"] = state
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                header = state.commit()
                if header is not None:
                    message["headers"] = [*message.get("headers", []), (b"set-cookie", header.encode("latin-1"))]
            await send(message)

        await self.app(scope, receive, send_wrapper)
