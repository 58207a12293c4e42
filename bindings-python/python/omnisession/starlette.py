"""Server-side sessions for Starlette and FastAPI.

```python
from omnisession.starlette import SessionMiddleware, login, logout

app.add_middleware(SessionMiddleware, store_options={"backend": "sqlite", "path": "s.db"},
                   secret_keys=["new-key", "old-key"])

async def view(request):
    request.session["cart"] = [1, 2]          # saved as a per-key patch after the response starts
    await login(request, user_id="alice")    # new id (fixation defence), user attached
```

- ``request.session`` is a plain dict. On the way out only the keys that changed are written
  (``patch``), so parallel requests that change different keys both win.
- ``Set-Cookie`` is sent only when the session is new, rotated, rolled (``rolling=True``) or
  deleted. Defaults: ``__Host-session``, ``Secure``, ``HttpOnly``, ``SameSite=Lax``, ``Path=/``.
- With ``secret_keys`` the cookie is signed (HMAC-SHA256); the first key signs, every key
  verifies, so keys rotate without logging anyone out.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import math
from datetime import datetime, timezone
from typing import Any, Dict, List, Mapping, MutableMapping, Optional, Sequence, Tuple, Union

from ._diff import changes
from .types import Session

from ._native import AsyncStore
from .exceptions import SessionExpiredError, SessionInvalidError, SessionNotFoundError

__all__ = ["SessionMiddleware", "SessionState", "login", "logout", "rotate"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


class SessionState:
    """The session of one request (``request.scope["omnisession"]``)."""

    def __init__(self, middleware: "SessionMiddleware", scope: Scope) -> None:
        self._mw = middleware
        self._scope = scope
        self.record: Optional[Session] = None
        self.data: Dict[str, Any] = {}
        self._snapshot: Dict[str, Any] = {}
        self.stale_cookie = False
        self.deleted = False
        self.issued = False  # a new id went out: new or rotated session

    @property
    def id(self) -> Optional[str]:
        return None if self.record is None else str(self.record["id"])

    async def load(self, session_id: Optional[str]) -> None:
        store = await self._mw.get_store()
        if session_id is not None:
            try:
                self.record = await store.get(session_id)
            except SessionInvalidError:
                self.record = None
            self.stale_cookie = self.record is None
        self._reset(dict(self.record["data"]) if self.record else {})

    def _reset(self, data: Dict[str, Any]) -> None:
        self.data = dict(data)
        self._snapshot = copy.deepcopy(data)
        self._scope["session"] = self.data

    def _changes(self) -> Tuple[Dict[str, Any], List[str]]:
        current = self._scope.get("session", self.data)
        if current is not self.data:  # the app replaced request.session wholesale
            self.data = current
        return changes(self._snapshot, self.data)

    async def flush(self) -> None:
        """Writes pending changes now (per key)."""
        store = await self._mw.get_store()
        set_, unset = self._changes()
        if self.deleted:
            return
        if self.record is None:
            if set_:
                self.record = await store.create(data=set_, **self._mw.client(self._scope))
                self.issued = True
                self._reset(self.record["data"])
            return
        if set_ or unset:
            try:
                self.record = await store.patch(self.record["id"], set_, unset)
            except (SessionNotFoundError, SessionExpiredError):
                # Logged out (or expired) by a parallel request: the logout wins.
                self.record = None
                self.stale_cookie = True
                self.data.clear()
                return
            self._reset(self.record["data"])

    async def login(self, user_id: Union[str, int]) -> None:
        """Attaches ``user_id`` and gives the session a new id (fixation defence)."""
        store = await self._mw.get_store()
        await self.flush()
        uid = str(user_id)
        if self.record is not None and self.record["user_id"] not in (None, uid):
            await store.delete(self.record["id"])
            self.record = None
        if self.record is None:
            self.record = await store.create(uid, data=self.data, **self._mw.client(self._scope))
        else:
            attached = await store.update({"id": self.record["id"], "data": self.data, "user_id": uid})
            self.record = await store.rotate(attached["id"])
        self.deleted = False
        self.issued = True
        self._reset(self.record["data"])

    async def rotate(self) -> None:
        """A new id for the same session (e.g. on privilege change)."""
        store = await self._mw.get_store()
        await self.flush()
        if self.record is not None:
            self.record = await store.rotate(self.record["id"])
            self.issued = True

    async def logout(self) -> None:
        """Deletes the session (the id is tombstoned: no parallel request revives it)."""
        store = await self._mw.get_store()
        if self.record is not None:
            await store.delete(self.record["id"])
        self.record = None
        self.deleted = True
        self._reset({})

    async def commit(self) -> Optional[str]:
        """Saves and returns the Set-Cookie header value, if one is due."""
        rolled = False
        if not self.deleted:
            before = self.record
            await self.flush()
            if self.record is not None and self.record is before and self._mw.rolling:
                self.record = await (await self._mw.get_store()).touch(self.record["id"])
                rolled = True
            elif self.record is not None and self._mw.rolling:
                rolled = True
        if self.record is not None and (self.issued or rolled):
            return self._mw.cookie(self.record)
        if self.deleted or (self.stale_cookie and self.record is None):
            return self._mw.cookie(None)
        return None


def _state(request: Any) -> SessionState:
    scope = request.scope if hasattr(request, "scope") else request
    try:
        return scope["omnisession"]  # type: ignore[no-any-return]
    except KeyError:
        raise RuntimeError("omnisession.starlette.SessionMiddleware is not installed") from None


async def login(request: Any, user_id: Union[str, int]) -> None:
    """Rotate-on-login: the session gets a new id and belongs to ``user_id`` from now on."""
    await _state(request).login(user_id)


async def logout(request: Any) -> None:
    """Deletes the request's session and expires its cookie."""
    await _state(request).logout()


async def rotate(request: Any) -> None:
    """Gives the request's session a new id."""
    await _state(request).rotate()


class SessionMiddleware:
    """ASGI middleware giving every HTTP request a server-side ``request.session``.

    Pass an open ``AsyncStore`` as ``store`` (opened with ``allow_anonymous=True``), or
    ``store_options`` (the options of ``AsyncStore.open``), opened on the first request.
    """

    def __init__(
        self,
        app: Any,
        store: Optional[AsyncStore] = None,
        *,
        store_options: Optional[Mapping[str, Any]] = None,
        cookie_name: Optional[str] = None,
        secret_keys: Optional[Sequence[Union[str, bytes]]] = None,
        rolling: bool = False,
        secure: bool = True,
        httponly: bool = True,
        samesite: Optional[str] = "lax",
        path: str = "/",
        domain: Optional[str] = None,
        max_age: Optional[int] = None,
    ) -> None:
        if (store is None) == (store_options is None):
            raise ValueError("pass either store or store_options")
        if samesite is not None and samesite.lower() not in ("lax", "strict", "none"):
            raise ValueError("samesite must be 'lax', 'strict', 'none' or None")
        self.app = app
        self._store = store
        self._store_options = dict(store_options or {})
        self._store_options.setdefault("allow_anonymous", True)
        self._lock = asyncio.Lock()
        host_prefix_ok = secure and path == "/" and domain is None
        self.cookie_name = cookie_name or ("__Host-session" if host_prefix_ok else "session")
        if self.cookie_name.startswith("__Host-") and not host_prefix_ok:
            raise ValueError("a __Host- cookie needs secure=True, path='/' and no domain")
        self.keys = [k.encode() if isinstance(k, str) else bytes(k) for k in (secret_keys or [])]
        self.rolling = rolling
        self.secure = secure
        self.httponly = httponly
        self.samesite = samesite
        self.path = path
        self.domain = domain
        self.max_age = max_age

    async def get_store(self) -> AsyncStore:
        if self._store is None:
            async with self._lock:
                if self._store is None:
                    self._store = await AsyncStore.open(**self._store_options)
        return self._store

    def client(self, scope: Scope) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        if scope.get("client"):
            out["ip_address"] = str(scope["client"][0])
        for name, value in scope.get("headers", []):
            if name == b"user-agent":
                out["user_agent"] = value.decode("latin-1")[:512]
        return out

    def _sign(self, session_id: str, key: bytes) -> str:
        mac = hmac.new(key, session_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def encode(self, session_id: str) -> str:
        if not self.keys:
            return session_id
        return f"{session_id}.{self._sign(session_id, self.keys[0])}"

    def decode(self, value: str) -> Optional[str]:
        if not self.keys:
            return value or None
        session_id, _, mac = value.rpartition(".")
        if not session_id:
            return None
        for key in self.keys:
            if hmac.compare_digest(mac, self._sign(session_id, key)):
                return session_id
        return None

    def cookie(self, record: Optional[Session]) -> str:
        parts = [f"{self.cookie_name}={self.encode(record['id']) if record else ''}", f"Path={self.path}"]
        if record is None:
            parts += ["Max-Age=0", "Expires=Thu, 01 Jan 1970 00:00:00 GMT"]
        elif self.max_age is not None:
            parts.append(f"Max-Age={int(self.max_age)}")
        elif record["expires_at"] is not None:
            remaining = (record["expires_at"] - datetime.now(timezone.utc)).total_seconds()
            parts.append(f"Max-Age={max(0, math.ceil(remaining))}")
        if self.domain:
            parts.append(f"Domain={self.domain}")
        if self.secure:
            parts.append("Secure")
        if self.httponly:
            parts.append("HttpOnly")
        if self.samesite:
            parts.append(f"SameSite={self.samesite.capitalize()}")
        return "; ".join(parts)

    def _session_id(self, scope: Scope) -> Optional[str]:
        # Split by hand, as browsers send the header and as omnisession/fetch reads it (first
        # match wins): SimpleCookie drops the whole header when any other cookie of the site is
        # not RFC 2109-clean (a space, a quote, JSON), which would sign the user out.
        for name, value in scope.get("headers", []):
            if name == b"cookie":
                for part in value.decode("latin-1").split(";"):
                    key, eq, raw = part.partition("=")
                    if eq and key.strip() == self.cookie_name:
                        return self.decode(raw.strip())
        return None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        state = SessionState(self, scope)
        scope["omnisession"] = state
        await state.load(self._session_id(scope))
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                header = await state.commit()
                if header is not None:
                    headers = list(message.get("headers", []))
                    headers.append((b"set-cookie", header.encode("latin-1")))
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_wrapper)
