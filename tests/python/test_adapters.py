"""Every case of tests/conformance/adapters.json, the request-cycle spec the Node adapters run too,
over HTTP against both Python adapters: a Starlette app with omnisession.starlette's
SessionMiddleware under a real uvicorn (driven with httpx), and Django with omnisession.django
through django.test.Client (its routes: tests/python/djproject). Each client has its own cookie
jar; each case runs on a fresh SQLite store.

Concurrent requests run on threads. They are started in order, and one that follows a
/slow-set starts only once that /slow-set has read its session: "logout racing a slow request"
is then a real race (the logout lands while the slow request holds the session), on every run."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import threading
import time
from datetime import datetime, timezone
from typing import Any, Dict, List, NamedTuple, Optional, Protocol, Tuple

import httpx
import pytest

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djproject.settings")

import django  # noqa: E402

django.setup()

from django.db import connections  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

from djproject import views  # noqa: E402
from omnisession import AsyncStore  # noqa: E402
from omnisession.django import reset_store  # noqa: E402
from omnisession.starlette import SessionMiddleware, login, logout, set_expiry  # noqa: E402

from conftest import Uvicorn  # noqa: E402

SPEC = json.loads((pathlib.Path(__file__).parents[1] / "conformance" / "adapters.json").read_text())
# The runner's defaults for a case that sets no option (the spec's "options").
DEFAULT_MAX_AGE_MS = 3_600_000


class Reply(NamedTuple):
    status: int
    body: Any
    cookies: List[Tuple[str, str, Optional[int]]]  # Set-Cookie: name, value, Max-Age


class App(Protocol):
    """One framework serving the spec's app."""

    cookie_name: str
    slow_set_loaded: threading.Event

    def request(self, client: str, method: str, path: str, cookie: str) -> Reply: ...

    def close(self) -> None: ...


def starlette_app(store: AsyncStore, slow_set_loaded: threading.Event, **middleware: Any) -> Starlette:
    def ok() -> JSONResponse:
        return JSONResponse({"ok": True})

    async def whoami(request: Request) -> JSONResponse:
        return JSONResponse({"user": request.scope["omnisession"].user_id})

    async def get(request: Request) -> JSONResponse:
        return JSONResponse({"value": request.session.get(request.query_params["key"])})

    async def set_(request: Request) -> JSONResponse:
        request.session[request.query_params["key"]] = json.loads(request.query_params["value"])
        return ok()

    async def slow_set(request: Request) -> JSONResponse:
        slow_set_loaded.set()  # the middleware read the session before the route ran
        await asyncio.sleep(int(request.query_params["ms"]) / 1000)
        return await set_(request)

    async def do_login(request: Request) -> JSONResponse:
        await login(request, request.query_params["user"])
        return ok()

    async def do_logout(request: Request) -> JSONResponse:
        await logout(request)
        return ok()

    async def expiry(request: Request) -> JSONResponse:
        set_expiry(request, int(request.query_params["seconds"]))
        return ok()

    async def lifetime(request: Request) -> JSONResponse:
        session_id = request.scope["omnisession"].id
        record = None if session_id is None else await store.get(session_id)
        if record is None or record["expires_at"] is None:
            return JSONResponse({"expires_in_ms": None})
        left = record["expires_at"] - datetime.now(timezone.utc)
        return JSONResponse({"expires_in_ms": round(left.total_seconds() * 1000)})

    routes = [
        Route("/whoami", whoami), Route("/get", get), Route("/lifetime", lifetime),
        Route("/set", set_, methods=["POST"]), Route("/slow-set", slow_set, methods=["POST"]),
        Route("/login", do_login, methods=["POST"]), Route("/logout", do_logout, methods=["POST"]),
        Route("/expiry", expiry, methods=["POST"]),
    ]
    return Starlette(routes=routes, middleware=[Middleware(SessionMiddleware, store=store, **middleware)])


def parse_set_cookie(header: str) -> Tuple[str, str, Optional[int]]:
    name, _, rest = header.partition("=")
    value, *attributes = rest.split(";")
    max_age = [int(a.split("=")[1]) for a in attributes if a.strip().lower().startswith("max-age=")]
    return name, value, max_age[0] if max_age else None


class StarletteUnderUvicorn:
    cookie_name = "__Host-session"

    def __init__(self, tmp_path: pathlib.Path, max_age: float, rolling: bool) -> None:
        async def open_store() -> AsyncStore:
            return await AsyncStore.open(backend="sqlite", path=str(tmp_path / "starlette.db"), allow_anonymous=True)

        self.store = asyncio.run(open_store())
        self.slow_set_loaded = threading.Event()
        app = starlette_app(self.store, self.slow_set_loaded, max_age=max_age, rolling=rolling,
                            secret_keys=["adapters-conformance-key"])
        self.server = Uvicorn(app)
        self.clients: Dict[str, httpx.Client] = {}

    def request(self, client: str, method: str, path: str, cookie: str) -> Reply:
        if client not in self.clients:
            self.clients[client] = httpx.Client(base_url=self.server.url, timeout=30)
        # The cookie is Secure and this is plain HTTP: the jar is ours, sent as a header.
        r = self.clients[client].request(method, path, headers={"cookie": cookie} if cookie else {})
        return Reply(r.status_code, r.json() if r.content else None,
                     [parse_set_cookie(h) for h in r.headers.get_list("set-cookie")])

    def close(self) -> None:
        for c in self.clients.values():
            c.close()
        self.server.stop()

        async def close_store() -> None:
            await self.store.close()

        asyncio.run(close_store())


class DjangoTestClient:
    cookie_name = "sessionid"
    slow_set_loaded = views.slow_set_loaded

    def __init__(self, tmp_path: pathlib.Path, max_age: float, rolling: bool) -> None:
        self.settings = override_settings(
            SESSION_COOKIE_AGE=max_age, SESSION_SAVE_EVERY_REQUEST=rolling,
            OMNISESSION={"backend": "sqlite", "path": str(tmp_path / "django.db")},
        )
        self.settings.enable()
        reset_store()
        self.clients: Dict[str, Client] = {}

    def request(self, client: str, method: str, path: str, cookie: str) -> Reply:
        if client not in self.clients:
            self.clients[client] = Client()
        try:
            # HTTP_COOKIE in place of the Client's own jar: the jar is ours, as for Starlette.
            r = self.clients[client].generic(method, path, HTTP_COOKIE=cookie)
        finally:
            connections.close_all()  # this thread's database connections
        max_age = lambda m: int(m["max-age"]) if m["max-age"] != "" else None  # noqa: E731
        return Reply(r.status_code, json.loads(r.content) if r["Content-Type"] == "application/json" else None,
                     [(name, m.value, max_age(m)) for name, m in r.cookies.items()])

    def close(self) -> None:
        reset_store()
        self.settings.disable()


class Runner:
    """Plays the steps of one case against one app, with a cookie jar per client."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.jars: Dict[str, Dict[str, str]] = {}

    def jar(self, client: str) -> Dict[str, str]:
        return self.jars.setdefault(client, {})

    def send(self, step: Dict[str, Any], cookie: Optional[str] = None) -> Reply:
        method, path = step["request"].split(" ", 1)
        if cookie is None:
            cookie = self.cookie_header(step["client"])
        return self.app.request(step["client"], method, path, cookie)

    def cookie_header(self, client: str) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.jar(client).items())

    def receive(self, step: Dict[str, Any], reply: Reply) -> None:
        jar = self.jar(step["client"])
        for name, value, max_age in reply.cookies:
            if value == "" or max_age == 0:
                jar.pop(name, None)  # a cleared cookie
            else:
                jar[name] = value
        expect = step.get("expect", {})
        where = f'{step["client"]}: {step["request"]}'
        if "status" in expect:
            assert reply.status == expect["status"], f"{where}: status {reply.status}, body {reply.body}"
        if "body" in expect:
            assert reply.body == expect["body"], where

    def concurrently(self, steps: List[Dict[str, Any]]) -> None:
        cookies = [self.cookie_header(step["client"]) for step in steps]  # the jars as they were
        replies: List[Optional[Reply]] = [None] * len(steps)
        errors: List[BaseException] = []

        def run(i: int) -> None:
            try:
                replies[i] = self.send(steps[i], cookies[i])
            except BaseException as exc:  # noqa: BLE001 - re-raised below, on the test's thread
                errors.append(exc)

        threads = []
        for i, step in enumerate(steps):
            slow = step["request"].startswith("POST /slow-set")
            if slow:
                self.app.slow_set_loaded.clear()
            threads.append(threading.Thread(target=run, args=(i,)))
            threads[-1].start()
            if slow:
                assert self.app.slow_set_loaded.wait(10), "the slow request never read its session"
        for t in threads:
            t.join(30)
        if errors:
            raise errors[0]
        for step, reply in zip(steps, replies):
            assert reply is not None
            self.receive(step, reply)

    def play(self, step: Dict[str, Any]) -> None:
        if "request" in step:
            self.receive(step, self.send(step))
        elif "concurrently" in step:
            self.concurrently(step["concurrently"])
        elif "sleep_ms" in step:
            time.sleep(step["sleep_ms"] / 1000)
        elif "copy_cookies" in step:
            self.jars[step["copy_cookies"]["to"]] = dict(self.jar(step["copy_cookies"]["from"]))
        elif "tamper" in step:
            jar = self.jar(step["tamper"])
            value = jar[self.app.cookie_name]
            jar[self.app.cookie_name] = value[:-1] + ("B" if value[-1] == "A" else "A")
        elif "oversize" in step:
            self.jar(step["oversize"])[self.app.cookie_name] = "a" * 5000
        elif "expect_cookie" in step:
            want = step["expect_cookie"]
            assert (self.app.cookie_name in self.jar(want["client"])) is want["present"], want
        elif "lifetime" in step:
            want = step["lifetime"]
            reply = self.send({"client": want["client"], "request": "GET /lifetime"})
            left = reply.body["expires_in_ms"]
            assert left is not None and want["min_ms"] <= left <= want["max_ms"], (left, want)
        else:
            raise AssertionError(f"unknown step {step}")


@pytest.mark.usefixtures("django_db")
@pytest.mark.parametrize("framework", [StarletteUnderUvicorn, DjangoTestClient], ids=["starlette", "django"])
@pytest.mark.parametrize("case", SPEC["cases"], ids=[c["name"] for c in SPEC["cases"]])
def test_case(case: Dict[str, Any], framework: Any, tmp_path: pathlib.Path) -> None:
    app: App = framework(tmp_path, case.get("max_age_ms", DEFAULT_MAX_AGE_MS) / 1000, case.get("rolling", False))
    try:
        runner = Runner(app)
        for step in case["steps"]:
            runner.play(step)
    finally:
        app.close()
