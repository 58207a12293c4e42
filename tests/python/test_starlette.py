"""omnisession.starlette.SessionMiddleware in a FastAPI app served by a real uvicorn server,
driven over HTTP with httpx."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request

import omnisession
from omnisession.starlette import SessionMiddleware, login, logout, rotate

from conftest import free_port


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
        state = request.scope["omnisession"]
        return {"user": state.record["user_id"] if state.record else None}

    return app


class Server:
    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    servers: List[Server] = []

    def start(**middleware: Any) -> Server:
        s = Server(make_app(**middleware))
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


class Browser:
    """Sends the cookie explicitly (the app's cookie is Secure; the test talks plain HTTP)."""

    def __init__(self, server: Server, name: str = "__Host-session") -> None:
        self.base = server.url
        self.name = name
        self.cookie: Optional[str] = None
        self.set_cookies: List[str] = []

    async def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"cookie": f"{self.name}={self.cookie}"} if self.cookie else {}
        async with httpx.AsyncClient(base_url=self.base) as client:
            r = await client.request(method, path, headers=headers, **kw)
        self.set_cookies = r.headers.get_list("set-cookie")
        for header in self.set_cookies:
            name, _, rest = header.partition("=")
            if name == self.name:
                value = rest.split(";", 1)[0]
                self.cookie = value or None
        return r


async def test_cookie_only_when_new_rotated_or_deleted(serve: Callable[..., Server], tmp_path: Any) -> None:
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
    max_age = int(next(a for a in attrs if a.startswith("Max-Age="))[8:])
    assert 86_000 < max_age <= 86_400  # the session's own expiry (default_ttl 24 h)
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
    old = Browser(server)
    old.cookie = first_id
    assert (await old.request("GET", "/get")).json() == {}
    assert old.set_cookies and "Max-Age=0" in old.set_cookies[0]  # stale cookie cleared

    await b.request("POST", "/logout")
    assert "Max-Age=0" in b.set_cookies[0] and b.cookie is None


async def test_parallel_requests_changing_different_keys_both_win(serve: Callable[..., Server]) -> None:
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


async def test_login_rotates_and_attaches_the_user(serve: Callable[..., Server]) -> None:
    shared = omnisession.MemoryBackend()
    server = serve(store_options={"backend": shared})
    b = Browser(server)
    await b.request("POST", "/set/cart", params={"value": "x"})
    anonymous_id = b.cookie
    await b.request("POST", "/login/alice")
    assert len(b.set_cookies) == 1 and b.cookie != anonymous_id
    assert (await b.request("GET", "/whoami")).json() == {"user": "alice"}
    assert (await b.request("GET", "/get")).json() == {"cart": "x"}
    inspector = await omnisession.AsyncStore.open(backend=shared)
    assert await inspector.get(anonymous_id) is None
    mine = await inspector.list_by_user_id("alice")
    assert [s["id"] for s in mine] == [b.cookie]
    # Revoking every session of the user (ASVS 7.4) logs the browser out.
    assert await inspector.delete_by_user_id("alice") == 1
    assert (await b.request("GET", "/whoami")).json() == {"user": None}
    await inspector.close()


async def test_signed_cookies_with_key_rotation(serve: Callable[..., Server]) -> None:
    shared = omnisession.MemoryBackend()
    old_server = serve(store_options={"backend": shared}, secret_keys=["old-key"])
    b = Browser(old_server)
    await b.request("POST", "/set/k", params={"value": "v"})
    assert b.cookie is not None and "." in b.cookie
    signed_with_old = b.cookie

    new_server = serve(store_options={"backend": shared}, secret_keys=["new-key", "old-key"])
    c = Browser(new_server)
    c.cookie = signed_with_old
    assert (await c.request("GET", "/get")).json() == {"k": "v"}  # still valid after rotation

    only_new = serve(store_options={"backend": shared}, secret_keys=["new-key"])
    d = Browser(only_new)
    d.cookie = signed_with_old
    assert (await d.request("GET", "/get")).json() == {}  # retired key
    e = Browser(new_server)
    e.cookie = signed_with_old[:-2] + ("AA" if not signed_with_old.endswith("AA") else "BB")
    assert (await e.request("GET", "/get")).json() == {}  # tampered
    f = Browser(new_server)
    f.cookie = signed_with_old.split(".")[0]  # unsigned id
    assert (await f.request("GET", "/get")).json() == {}


async def test_rolling_sends_the_cookie_every_time_and_touches(serve: Callable[..., Server]) -> None:
    shared = omnisession.MemoryBackend()
    server = serve(store_options={"backend": shared, "idle_timeout": 3600}, rolling=True)
    b = Browser(server)
    await b.request("POST", "/set/k", params={"value": "v"})
    inspector = await omnisession.AsyncStore.open(backend=shared, allow_anonymous=True)
    before = await inspector.get(b.cookie)
    await asyncio.sleep(0.01)
    await b.request("GET", "/get")
    assert len(b.set_cookies) == 1
    after = await inspector.get(b.cookie)
    assert after["last_accessed_at"] > before["last_accessed_at"]
    assert after["version"] == before["version"]  # touch, not a write
    await inspector.close()


async def test_plain_http_options_and_non_json_data(serve: Callable[..., Server]) -> None:
    server = serve(store_options={}, secure=False, samesite="strict")
    b = Browser(server, name="session")
    await b.request("POST", "/set/k", params={"value": "v"})
    (header,) = b.set_cookies
    assert header.startswith("session=") and "Secure" not in header and "SameSite=Strict" in header
    # The app stored a set: saving raises SessionNotSerializableError before the response
    # starts, so the app's error handling answers 500 and nothing is half-saved.
    assert (await b.request("POST", "/bad")).status_code == 500
    assert (await b.request("GET", "/get")).json() == {"k": "v"}


async def test_other_cookies_that_simplecookie_rejects_do_not_hide_the_session(serve: Callable[..., Server]) -> None:
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


def test_middleware_arguments() -> None:
    with pytest.raises(ValueError):
        SessionMiddleware(None)
    with pytest.raises(ValueError):
        SessionMiddleware(None, store_options={}, cookie_name="__Host-x", secure=False)
    with pytest.raises(ValueError):
        SessionMiddleware(None, store_options={}, samesite="sometimes")
    assert SessionMiddleware(None, store_options={}, domain="example.com").cookie_name == "session"
