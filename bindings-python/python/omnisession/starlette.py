"""Server-side sessions for Starlette and FastAPI.

```python
from omnisession.starlette import SessionMiddleware, login, logout

app.add_middleware(SessionMiddleware, store_options={"backend": "sqlite", "path": "s.db"},
                   secret_keys=["current-key-0123456789", "previous-key-0123456789"], max_age=3600)

async def view(request):
    request.session["cart"] = [1, 2]        # saved as a per-key patch when the response starts
    await login(request, user_id="alice")  # new id, user attached, old id ended: one step
```

Each step of the request is one call of the store:

- the request comes in: the cookie is read (an absent, duplicated, oversized, forged or
  malformed cookie is no session, never an error) and the session with ``get``; with
  ``rolling=True`` with ``get_sliding`` (the lifetime restarts at ``max_age`` once half of it
  has passed) and the cookie goes out again on every response;
- the response starts: the keys the app changed in ``request.session`` are saved with ``patch``
  (parallel requests that change different keys both win), a new session with ``create``; an
  app that emptied ``request.session`` ended the session (``delete``); a session deleted
  meanwhile, by a logout in another request, stays deleted and its cookie is cleared;
- ``login(request, user_id)``: the store's ``login``, with this request's changes: a new id, the
  old one ended, the data kept only when it was anonymous or already this user's;
- ``logout``: ``delete``; ``rotate``: ``rotate``; ``set_expiry(request, ttl)``: the new lifetime
  goes with the next write.

``max_age`` (seconds or a ``timedelta``) is the server-side lifetime of new sessions (default:
the store's ``default_ttl``); the cookie's Max-Age is always the time the stored session has
left. Cookie defaults: ``__Host-session`` (``session`` when ``secure``, ``path`` or ``domain``
rule the prefix out), Secure, HttpOnly, SameSite=Lax, Path=/; with ``secret_keys`` (16 bytes or
more each) it is signed by ``SessionCookie``: the first key signs, every key verifies. A bad
option raises ``ConfigInvalidError`` with ``details["option"]`` naming it.

Device details: a new or signed-in session records the request's User-Agent; its address
(``scope["client"]``, which uvicorn's ``--proxy-headers`` takes from a trusted proxy) only with
``record_ip_address=True``, since an address is personal data.
"""

from __future__ import annotations

import asyncio
import copy
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Mapping, MutableMapping, Optional, Sequence, Tuple, Type

from ._cookie import MaxAge, Secret, SessionCookie
from ._diff import changes
from ._native import AsyncStore
from .exceptions import ConfigInvalidError, SessionGoneError
from .types import Duration, Session, UserId

__all__ = ["SessionMiddleware", "SessionState", "SessionCookie", "login", "logout", "rotate", "set_expiry"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]

# A session ended by another request (a logout) or by its lifetime while this one ran.
# SessionCookie's option names, as this middleware spells them.
_OPTION_NAMES = {"name": "cookie_name", "secret": "secret_keys"}


class SessionState:
    """The session of one request (``request.scope["omnisession"]``); ``request.session`` is
    its data, a plain dict."""

    def __init__(self, middleware: "SessionMiddleware", scope: Scope, record: Optional[Session],
                 presented: bool) -> None:
        self._mw = middleware
        self._scope = scope
        self._presented = presented  # the request carried a session id (maybe of a gone session)
        self._ended = False  # logged out: the cookie is cleared, unless data written since starts a new one
        self._new_cookie = False  # a new id or a new lifetime the browser must learn
        self._ttl: Optional[Duration] = None  # set_expiry's, sent with the next write
        self._adopt(record)

    @property
    def record(self) -> Optional[Session]:
        """The session as last read or written, or None."""
        return self._record

    @property
    def id(self) -> Optional[str]:
        return None if self._record is None else self._record["id"]

    @property
    def user_id(self) -> Optional[str]:
        return None if self._record is None else self._record["user_id"]

    def _adopt(self, record: Optional[Session]) -> None:
        """``record`` becomes the base of the next diff and, copied, ``request.session``."""
        self._record = record
        self._snapshot: Mapping[str, Any] = {} if record is None else record["data"]
        self._scope["session"] = copy.deepcopy(self._snapshot)

    def _end(self) -> None:
        self._ended = True
        self._adopt(None)

    def _changes(self) -> Tuple[Dict[str, Any], List[str]]:
        return changes(self._snapshot, self._scope["session"])

    def set_expiry(self, ttl: Duration) -> None:
        self._ttl = ttl

    async def flush(self) -> None:
        """Saves this request's changes now (the middleware does when the response starts)."""
        if self._record is not None and self._snapshot and not self._scope["session"]:
            await self.logout()  # the app emptied request.session: the session is over
            return
        set_, unset = self._changes()
        store = await self._mw.get_store()
        try:
            if self._record is None:
                if not set_:
                    return  # nothing to keep: no session, no cookie
                record = await store.create(data=set_, ttl=self._lifetime(), **self._mw.client(self._scope))
            elif set_ or unset or self._ttl is not None:
                record = await store.patch(self._record["id"], set_, unset, ttl=self._ttl)
            else:
                return
        except SessionGoneError:
            self._end()  # logged out by a parallel request: the logout wins
            return
        # A new session, or a new lifetime: the browser learns it.
        self._new_cookie |= self._record is None or self._ttl is not None
        self._ttl = None
        self._adopt(record)

    def _lifetime(self) -> Optional[Duration]:
        return self._mw.max_age if self._ttl is None else self._ttl

    async def login(self, user_id: UserId) -> None:
        """Signs ``user_id`` in: one atomic ``login`` of the store, carrying this request's changes."""
        set_, unset = self._changes()
        store = await self._mw.get_store()
        record = await store.login(user_id, from_id=self.id, set=set_, unset=unset, ttl=self._lifetime(),
                                   **self._mw.client(self._scope))
        self._new_cookie = True
        self._ttl = None
        self._adopt(record)

    async def rotate(self) -> None:
        """A new id for the same session; this request's changes are still saved on the way out."""
        if self._record is None:
            return
        try:
            self._record = await (await self._mw.get_store()).rotate(self._record["id"])
        except SessionGoneError:
            self._end()
            return
        self._new_cookie = True

    async def logout(self) -> None:
        """Deletes the session (tombstoned: no parallel request brings it back)."""
        if self._record is not None:
            await (await self._mw.get_store()).delete(self._record["id"])
        self._end()

    async def commit(self) -> Optional[str]:
        """Saves, and returns the ``Set-Cookie`` value that is due, if any."""
        await self.flush()
        cookie = self._mw.cookie
        if self._record is None:
            return cookie.clear() if self._ended or self._presented else None
        if not (self._new_cookie or self._mw.rolling):
            return None
        expires_at = self._record["expires_at"]
        left = None if expires_at is None else max(timedelta(0), expires_at - datetime.now(timezone.utc))
        return cookie.serialize(self._record["id"], max_age=left)


def _state(request: Any) -> SessionState:
    scope = request.scope if hasattr(request, "scope") else request
    try:
        return scope["omnisession"]  # type: ignore[no-any-return]
    except KeyError:
        raise RuntimeError("omnisession.starlette.SessionMiddleware is not installed") from None


async def login(request: Any, user_id: UserId) -> None:
    """Signs ``user_id`` in: a new session id, the old one ended (session fixation defence)."""
    await _state(request).login(user_id)


async def logout(request: Any) -> None:
    """Deletes the request's session and clears its cookie."""
    await _state(request).logout()


async def rotate(request: Any) -> None:
    """Gives the request's session a new id (e.g. on a privilege change)."""
    await _state(request).rotate()


def set_expiry(request: Any, ttl: Duration) -> None:
    """The session ends ``ttl`` (seconds or a ``timedelta``) from its next write, which this
    request's response makes."""
    _state(request).set_expiry(ttl)


def _invalid(option: str, message: str) -> ConfigInvalidError:
    return ConfigInvalidError(f"CONFIG_INVALID: {message}", {"option": option})


class SessionMiddleware:
    """ASGI middleware giving every HTTP request a server-side ``request.session``.

    Pass an open ``AsyncStore`` as ``store`` (opened with ``allow_anonymous=True``), or
    ``store_options`` (the options of ``AsyncStore.open``), opened on the first request.
    """

    #: The cookie format; a subclass of ``SessionCookie`` can read and write another one.
    cookie_class: Type[SessionCookie] = SessionCookie

    def __init__(
        self,
        app: Any,
        store: Optional[AsyncStore] = None,
        *,
        store_options: Optional[Mapping[str, Any]] = None,
        max_age: Optional[MaxAge] = None,
        rolling: bool = False,
        cookie_name: Optional[str] = None,
        secret_keys: Optional[Sequence[Secret]] = None,
        secure: bool = True,
        httponly: bool = True,
        samesite: str = "lax",
        path: str = "/",
        domain: Optional[str] = None,
        record_ip_address: bool = False,
    ) -> None:
        if (store is None) == (store_options is None):
            raise _invalid("store", "pass either store (an open AsyncStore) or store_options")
        if not isinstance(rolling, bool):
            raise _invalid("rolling", "rolling must be a bool")
        if not isinstance(record_ip_address, bool):
            raise _invalid("record_ip_address", "record_ip_address must be a bool")
        if rolling and max_age is None:
            raise _invalid("rolling", "rolling=True needs max_age, the lifetime it renews")
        if cookie_name is None:
            cookie_name = "__Host-session" if secure is True and path == "/" and domain is None else "session"
        try:
            # max_age is checked here too; every cookie then carries the stored session's time left.
            self.cookie = self.cookie_class(name=cookie_name, secret=secret_keys, path=path, domain=domain,
                                            secure=secure, httponly=httponly, samesite=samesite, max_age=max_age)
        except ConfigInvalidError as exc:
            option = str(exc.details.get("option"))
            raise ConfigInvalidError(exc.message, {"option": _OPTION_NAMES.get(option, option)}) from None
        self.app = app
        self.max_age = max_age
        self.rolling = rolling
        self.record_ip_address = record_ip_address
        self._store = store
        self._store_options = {"allow_anonymous": True, **(store_options or {})}
        self._lock = asyncio.Lock()

    async def get_store(self) -> AsyncStore:
        if self._store is None:
            async with self._lock:
                if self._store is None:
                    self._store = await AsyncStore.open(**self._store_options)
        return self._store

    def client(self, scope: Scope) -> Dict[str, Any]:
        """The client's user agent, and its address when the app opted in, recorded with a new
        or signed-in session."""
        out: Dict[str, Any] = {}
        if self.record_ip_address and scope.get("client"):
            out["ip_address"] = str(scope["client"][0])
        for name, value in scope.get("headers", []):
            if name == b"user-agent":
                out["user_agent"] = value.decode("latin-1")
        return out

    async def _load(self, scope: Scope) -> SessionState:
        # HTTP/2 may split the Cookie header; SessionCookie.read refuses a name given twice.
        header = "; ".join(v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"cookie")
        session_id = self.cookie.read(header)
        record = None
        if session_id is not None:
            store = await self.get_store()
            if self.rolling:
                assert self.max_age is not None  # checked in __init__
                record = await store.get_sliding(session_id, self.max_age)
            else:
                record = await store.get(session_id)
        return SessionState(self, scope, record, presented=session_id is not None)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        state = await self._load(scope)
        scope["omnisession"] = state
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                header = await state.commit()
                if header is not None:
                    message["headers"] = [*message.get("headers", []), (b"set-cookie", header.encode("latin-1"))]
            await send(message)

        await self.app(scope, receive, send_wrapper)
