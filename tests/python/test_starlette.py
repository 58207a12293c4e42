"""omnisession.starlette.SessionMiddleware in a FastAPI app served by a real uvicorn server,
driven over HTTP with httpx. The request cycle shared with Node is in test_adapters.py; these
are the cookie, the options and the rest of the middleware's own behaviour."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, Callable, Dict, Iterator, List, Optional

import httpx
import pytest
from fastapi import FastAPI, Request

import omnisession
from omnisession import ConfigInvalidError
from omnisession.starlette import SessionMiddleware, login, logout, rotate

from conftest import Uvicorn

KEY = "current-key-0123456789"
OLD_KEY = "previous-key-0123456789"


def make_app(**middleware: Any) -> FastAPI:
    app = FastAPI()
    app.add_middleware(SessionMiddleware, **middleware)

    @app.get("/get")
    async def get(request: Request) -> Dict[str, Any]:
        return dict(request.session)

    @app.post("/set/{key}")
    async def set_(request: Request, key: str, value: str, delay: float = 0) -> Dict[str, Any]:
        await asyncio.sleep(delay)
        request.session[key] = value
        return {"ok": True}

    @app.post("/del/{key}")
    async def del_(request: Request, key: str) -> Dict[str, Any]:
        request.session.pop(key, None)
        return {"ok": True}

    @app.post("/clear")
    async def clear(request: Request) -> Dict[str, Any]:
        request.session.clear()
        return {"ok": True}

    @app.post("/login/{user}")
    async def do_login(request: Request, user: str) -> Dict[str, Any]:
        await login(request, user)
        return {"ok": True}

    @app.post("/logout")
    async def do_logout(request: Request) -> Dict[str, Any]:
        await logout(request)
        return {"ok": True}

    @app.post("/rotate")
    async def do_rotate(request: Request) -> Dict[str, Any]:
        await rotate(request)
        return {"ok": True}

    @app.post("/bad")
    async def bad(request: Request) -> Dict[str, Any]:
        request.session["when"] = {1, 2}
        return {"ok": True}

    @app.get("/whoami")
    async def whoami(request: Request) -> Dict[str, Any]:
        return {"user": request.scope["omnisession"].user_id}

    return app


@pytest.fixture
def serve() -> Iterator[Callable[..., Uvicorn]]:
    servers: List[Uvicorn] = []

    def start(**middleware: Any) -> Uvicorn:
        servers.append(Uvicorn(make_app(**middleware)))
        return servers[-1]

    yield start
    for s in servers:
        s.stop()


class Browser:
    """Sends the cookie explicitly (the app's cookie is Secure; the test talks plain HTTP)."""

    def __init__(self, server: Uvicorn, name: str = "__Host-session") -> None:
        self.base = server.url
        self.name = name
        self.cookie: Optional[str] = None
        self.set_cookies: List[str] = []

    async def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        # Bytes: a test may send what no str header can hold (UTF-8 in a forged cookie).
        headers = {b"cookie": f"{self.name}={self.cookie}".encode()} if self.cookie else {}
        headers.update({k.encode(): v.encode() for k, v in kw.pop("headers", {}).items()})
        async with httpx.AsyncClient(base_url=self.base) as client:
            r = await client.request(method, path, headers=headers, **kw)
        self.set_cookies = r.headers.get_list("set-cookie")
        for header in self.set_cookies:
            name, _, rest = header.partition("=")
            if name == self.name:
                value = rest.split(";", 1)[0]
                self.cookie = value or None
        return r

    def max_age(self) -> int:
        (header,) = self.set_cookies
        return int(next(a for a in header.split("; ") if a.startswith("Max-Age="))[8:])


async def test_cookie_only_when_new_rotated_or_deleted(serve: Callable[..., Uvicorn], tmp_path: Any) -> None:
    server = serve(store_options={"backend": "sqlite", "path": str(tmp_path / "s.db")})
    b = Browser(server)
    r = await b.request("GET", "/get")
    assert r.json() == {} and b.set_cookies == []  # nothing stored, nothing sent
    await b.request("POST", "/set/cart", params={"value": "apple"})
    (header,) = b.set_cookies
    assert header.startswith("__Host-session=")
    attrs = [a.strip() for a in header.split(";")]
    assert "Path=/" in attrs and "Secure" in attrs and "HttpOnly" in attrs and "SameSite=Lax" in attrs
    assert not any(a.startswith("Domain") for a in attrs)
    assert 86_000 < b.max_age() <= 86_400  # no max_age: the store's default_ttl (24 h) is left
    first_id = b.cookie
    assert first_id is not None and len(first_id) == 43

    r = await b.request("GET", "/get")
    assert r.json() == {"cart": "apple"} and b.set_cookies == []
    await b.request("POST", "/set/theme", params={"value": "dark"})
    assert b.set_cookies == []  # a change to an existing session sends no cookie
    assert (await b.request("GET", "/get")).json() == {"cart": "apple", "theme": "dark"}
    await b.request("POST", "/del/cart")
    assert (await b.request("GET", "/get")).json() == {"theme": "dark"}

    await b.request("POST", "/rotate")
    assert len(b.set_cookies) == 1 and b.cookie != first_id
    assert (await b.request("GET", "/get")).json() == {"theme": "dark"}
    old = Browser(server)
    old.cookie = first_id
    assert (await old.request("GET", "/get")).json() == {}
    assert old.set_cookies and "Max-Age=0" in old.set_cookies[0]  # stale cookie cleared

    await b.request("POST", "/logout")
    assert "Max-Age=0" in b.set_cookies[0] and b.cookie is None


async def test_parallel_requests_changing_different_keys_both_win(serve: Callable[..., Uvicorn]) -> None:
    server = serve(store_options={})
    b = Browser(server)
    await b.request("POST", "/set/seed", params={"value": "1"})
    cookie = b.cookie

    async def set_key(key: str, delay: float) -> None:
        c = Browser(server)
        c.cookie = cookie
        await c.request("POST", f"/set/{key}", params={"value": key, "delay": delay})

    # Both requests load the session before either saves.
    await asyncio.gather(set_key("a", 0.3), set_key("b", 0.1))
    assert (await b.request("GET", "/get")).json() == {"seed": "1", "a": "a", "b": "b"}


async def test_login_is_one_step_of_the_store(serve: Callable[..., Uvicorn]) -> None:
    shared = omnisession.MemoryBackend()
    server = serve(store_options={"backend": shared}, max_age=600)
    b = Browser(server)
    await b.request("POST", "/set/cart", params={"value": "x"})
    anonymous_id = b.cookie
    await b.request("POST", "/login/alice")
    assert len(b.set_cookies) == 1 and b.cookie != anonymous_id
    assert 599 <= b.max_age() <= 600  # login gives the session max_age
    assert (await b.request("GET", "/whoami")).json() == {"user": "alice"}
    assert (await b.request("GET", "/get")).json() == {"cart": "x"}  # an anonymous session's data stays
    inspector = await omnisession.AsyncStore.open(backend=shared)
    assert await inspector.get(anonymous_id or "") is None
    mine = await inspector.list_by_user_id("alice")
    assert [s["id"] for s in mine] == [b.cookie]
    assert mine[0]["expires_at"] is not None
    assert mine[0]["expires_at"] - mine[0]["created_at"] == timedelta(seconds=600)
    # Revoking every session of the user (ASVS 7.4) logs the browser out.
    assert await inspector.delete_by_user_id("alice") == 1
    assert (await b.request("GET", "/whoami")).json() == {"user": None}
    await inspector.close()


async def test_login_records_the_user_agent_and_the_address_only_when_opted_in(serve: Callable[..., Uvicorn]) -> None:
    shared = omnisession.MemoryBackend()
    inspector = await omnisession.AsyncStore.open(backend=shared)
    for opted_in, user in ((False, "alice"), (True, "bob")):
        server = serve(store_options={"backend": shared}, record_ip_address=opted_in)
        b = Browser(server)
        await b.request("POST", "/set/cart", params={"value": "x"}, headers={"user-agent": f"agent of {user}"})
        anonymous = await inspector.get(b.cookie or "")
        assert anonymous is not None and anonymous["user_agent"] == f"agent of {user}"  # a new session too
        await b.request("POST", f"/login/{user}", headers={"user-agent": f"agent of {user}/2"})
        (session,) = await inspector.list_by_user_id(user)
        assert session["id"] == b.cookie and session["user_agent"] == f"agent of {user}/2"
        # uvicorn's scope["client"]: the real peer address, recorded only when the app opted in.
        assert session["ip_address"] == ("127.0.0.1" if opted_in else "")
        assert anonymous["ip_address"] == ("127.0.0.1" if opted_in else "")
    # A long header is kept to its first 512 characters by the core (MAX_USER_AGENT_CHARS).
    b = Browser(serve(store_options={"backend": shared}))
    await b.request("POST", "/login/carol", headers={"user-agent": "a" * 2000})
    (session,) = await inspector.list_by_user_id("carol")
    assert session["user_agent"] == "a" * 512
    await inspector.close()


async def test_max_age_is_the_server_side_lifetime(serve: Callable[..., Uvicorn]) -> None:
    shared = omnisession.MemoryBackend()
    server = serve(store_options={"backend": shared}, max_age=timedelta(seconds=90))
    b = Browser(server)
    await b.request("POST", "/set/k", params={"value": "v"})
    assert 89 <= b.max_age() <= 90
    inspector = await omnisession.AsyncStore.open(backend=shared, allow_anonymous=True)
    record = await inspector.get(b.cookie or "")
    assert record is not None and record["expires_at"] is not None
    assert record["expires_at"] - record["created_at"] == timedelta(seconds=90)
    await inspector.close()


async def test_emptying_request_session_ends_the_session(serve: Callable[..., Uvicorn]) -> None:
    shared = omnisession.MemoryBackend()
    server = serve(store_options={"backend": shared})
    b = Browser(server)
    await b.request("POST", "/set/k", params={"value": "v"})
    session_id = b.cookie
    await b.request("POST", "/clear")
    assert "Max-Age=0" in b.set_cookies[0] and b.cookie is None
    inspector = await omnisession.AsyncStore.open(backend=shared, allow_anonymous=True)
    assert await inspector.get(session_id or "") is None
    await inspector.close()


async def test_signed_cookies_with_key_rotation(serve: Callable[..., Uvicorn]) -> None:
    shared = omnisession.MemoryBackend()
    old_server = serve(store_options={"backend": shared}, secret_keys=[OLD_KEY])
    b = Browser(old_server)
    await b.request("POST", "/set/k", params={"value": "v"})
    assert b.cookie is not None and "." in b.cookie
    signed_with_old = b.cookie

    new_server = serve(store_options={"backend": shared}, secret_keys=[KEY, OLD_KEY])
    c = Browser(new_server)
    c.cookie = signed_with_old
    assert (await c.request("GET", "/get")).json() == {"k": "v"}  # still valid after rotation

    only_new = serve(store_options={"backend": shared}, secret_keys=[KEY])
    for forged in (
        signed_with_old,  # a retired key
        signed_with_old[:-2] + ("AA" if not signed_with_old.endswith("AA") else "BB"),  # tampered
        signed_with_old.split(".")[0],  # the bare id
        signed_with_old[:-1] + "é",  # not ASCII
    ):
        d = Browser(only_new)
        d.cookie = forged
        r = await d.request("GET", "/get")
        assert (r.status_code, r.json()) == (200, {}), forged


async def test_rolling_renews_the_lifetime_and_sends_the_cookie_every_time(serve: Callable[..., Uvicorn]) -> None:
    shared = omnisession.MemoryBackend()
    server = serve(store_options={"backend": shared}, max_age=2, rolling=True)
    inspector = await omnisession.AsyncStore.open(backend=shared, allow_anonymous=True)
    b = Browser(server)
    await b.request("POST", "/set/k", params={"value": "v"})
    created = await inspector.get(b.cookie or "")
    await b.request("GET", "/get")
    assert len(b.set_cookies) == 1  # re-sent ...
    unchanged = await inspector.get(b.cookie or "")
    assert created is not None and unchanged is not None
    assert unchanged["expires_at"] == created["expires_at"]  # ... but no write before half the window
    await asyncio.sleep(1.1)
    assert (await b.request("GET", "/get")).json() == {"k": "v"}
    assert b.max_age() == 2
    slid = await inspector.get(b.cookie or "")
    assert slid is not None and slid["expires_at"] is not None and created["expires_at"] is not None
    assert slid["expires_at"] - created["expires_at"] >= timedelta(seconds=1)
    await inspector.close()


async def test_plain_http_options_and_non_json_data(serve: Callable[..., Uvicorn]) -> None:
    server = serve(store_options={}, secure=False, samesite="strict")
    b = Browser(server, name="session")
    await b.request("POST", "/set/k", params={"value": "v"})
    (header,) = b.set_cookies
    assert header.startswith("session=") and "Secure" not in header and "SameSite=Strict" in header
    # The app stored a set: saving raises SessionNotSerializableError before the response
    # starts, so the app's error handling answers 500 and nothing is half-saved.
    assert (await b.request("POST", "/bad")).status_code == 500
    assert (await b.request("GET", "/get")).json() == {"k": "v"}


async def test_other_cookies_that_simplecookie_rejects_do_not_hide_the_session(serve: Callable[..., Uvicorn]) -> None:
    # Cookies of other parts of the site with a space, quotes or JSON in them are common;
    # http.cookies.SimpleCookie gives up on the whole header when it meets one.
    server = serve(store_options={})
    b = Browser(server)
    await b.request("POST", "/set/k", params={"value": "v"})
    cookie = f'theme=dark mode; __Host-session={b.cookie}; prefs={{"a":1}}'
    async with httpx.AsyncClient(base_url=server.url) as client:
        r = await client.get("/get", headers={"cookie": cookie})
    assert r.json() == {"k": "v"}
    assert r.headers.get_list("set-cookie") == []  # the same session: no new cookie


@pytest.mark.parametrize("options,option", [
    ({}, "store"),
    ({"store_options": {}, "store": object()}, "store"),
    ({"store_options": {}, "cookie_name": "__Host-x", "secure": False}, "cookie_name"),
    ({"store_options": {}, "cookie_name": "a b"}, "cookie_name"),
    ({"store_options": {}, "samesite": "sometimes"}, "samesite"),
    ({"store_options": {}, "secret_keys": ["short"]}, "secret_keys"),
    ({"store_options": {}, "max_age": -1}, "max_age"),
    ({"store_options": {}, "rolling": True}, "rolling"),
    ({"store_options": {}, "rolling": "yes", "max_age": 60}, "rolling"),
    ({"store_options": {}, "path": "/a b"}, "path"),
    ({"store_options": {}, "record_ip_address": "yes"}, "record_ip_address"),
])
def test_every_option_is_checked(options: Dict[str, Any], option: str) -> None:
    with pytest.raises(ConfigInvalidError) as caught:
        SessionMiddleware(None, **options)
    assert caught.value.code == "CONFIG_INVALID" and caught.value.details == {"option": option}


def test_default_cookie_name() -> None:
    assert SessionMiddleware(None, store_options={}).cookie.serialize("a" * 43).startswith("__Host-session=")
    for ruled_out in ({"domain": "example.com"}, {"secure": False}, {"path": "/app"}):
        cookie = SessionMiddleware(None, store_options={}, **ruled_out).cookie
        assert cookie.serialize("a" * 43).startswith("session=")
