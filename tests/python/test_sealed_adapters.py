"""Sealed cookie sessions in the Python hosts, over real HTTP: omnisession.starlette_sealed's
SessionMiddleware in a Starlette app under a real uvicorn (driven with httpx), and
omnisession.django_cookies as Django's SESSION_ENGINE through django.test.Client (the routes of
tests/python/djproject). Each: a round trip, login's new seal, logout, key rotation while
running, every kind of bad cookie (an empty session, a cleared cookie and the core's violation
event, never a 500), and configuration errors at construction."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import httpx
import pytest

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djproject.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

from omnisession import ConfigInvalidError, Sealer, SessionInvalidError  # noqa: E402
from omnisession._native import _flush_callbacks  # noqa: E402
from omnisession.django_cookies import SessionMiddleware as DjangoSealedMiddleware  # noqa: E402
from omnisession.django_cookies import get_sealer, reset_sealer  # noqa: E402
from omnisession.starlette_sealed import SessionMiddleware, login, logout, rotate, set_expiry  # noqa: E402

from conftest import Uvicorn  # noqa: E402

KEY_A = ("A", bytes(range(32)))
KEY_B = ("B", bytes(range(100, 132)))
OTHER_BYTES_UNDER_A = ("A", bytes(range(200, 232)))
Events = List[Dict[str, Any]]


def types(events: Events, n: int = 1) -> List[str]:
    """The event types delivered so far, once at least ``n`` arrived (they are queued, then run
    on the event loop of the request that raised them, or on the dispatcher thread)."""
    deadline = time.monotonic() + 5
    while True:
        assert _flush_callbacks(5)
        if len(events) >= n or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    time.sleep(0.02)  # nothing more comes
    assert _flush_callbacks(5)
    return [e["type"] for e in events]


def opened(keys: List[Tuple[str, bytes]], name: str, value: Optional[str]) -> Dict[str, Any]:
    assert value is not None
    session = Sealer(keys, name).open(value)["session"]
    assert session is not None, value
    return session  # type: ignore[return-value]


# --- Starlette ----------------------------------------------------------------------------------


def make_app(**middleware: Any) -> Starlette:
    def ok() -> JSONResponse:
        return JSONResponse({"ok": True})

    async def get(request: Request) -> JSONResponse:
        return JSONResponse(dict(request.session))

    async def set_(request: Request) -> JSONResponse:
        request.session[request.path_params["key"]] = json.loads(request.query_params["value"])
        return ok()

    async def clear(request: Request) -> JSONResponse:
        request.session.clear()
        return ok()

    async def do_login(request: Request) -> JSONResponse:
        await login(request, request.path_params["user"])
        if "value" in request.query_params:
            request.session["after"] = json.loads(request.query_params["value"])
        return ok()

    async def do_logout(request: Request) -> JSONResponse:
        await logout(request)
        return ok()

    async def do_rotate(request: Request) -> JSONResponse:
        await rotate(request)
        return ok()

    async def expiry(request: Request) -> JSONResponse:
        set_expiry(request, float(request.query_params["seconds"]))
        request.session["expiring"] = True
        return ok()

    async def whoami(request: Request) -> JSONResponse:
        return JSONResponse({"user": request.scope["omnisession"].user_id})

    async def opened_route(request: Request) -> JSONResponse:
        return JSONResponse({"opened": not request.scope["omnisession"].is_new})

    async def big(request: Request) -> JSONResponse:
        request.session["blob"] = "x" * 5000
        return ok()

    return Starlette(
        routes=[
            Route("/get", get),
            Route("/set/{key}", set_, methods=["POST"]),
            Route("/clear", clear, methods=["POST"]),
            Route("/login/{user}", do_login, methods=["POST"]),
            Route("/logout", do_logout, methods=["POST"]),
            Route("/rotate", do_rotate, methods=["POST"]),
            Route("/expiry", expiry, methods=["POST"]),
            Route("/whoami", whoami),
            Route("/big", big, methods=["POST"]),
            Route("/opened", opened_route),
        ],
        middleware=[Middleware(SessionMiddleware, **middleware)],
    )


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
    """Keeps the session cookie and sends it (or any raw Cookie header a test gives)."""

    def __init__(self, server: Uvicorn, name: str = "session") -> None:
        self.base = server.url
        self.name = name
        self.cookie: Optional[str] = None
        self.set_cookies: List[str] = []

    async def request(self, method: str, path: str, raw: Optional[bytes] = None) -> httpx.Response:
        header = raw if raw is not None else f"{self.name}={self.cookie}".encode() if self.cookie else None
        async with httpx.AsyncClient(base_url=self.base) as client:
            r = await client.request(method, path, headers={b"cookie": header} if header else {})
        self.set_cookies = r.headers.get_list("set-cookie")
        for h in self.set_cookies:
            name, _, rest = h.partition("=")
            if name == self.name:
                self.cookie = rest.split(";", 1)[0] or None
        return r

    def max_age(self) -> int:
        (header,) = self.set_cookies
        return int(next(a for a in header.split("; ") if a.startswith("Max-Age="))[8:])

    def cleared(self) -> bool:
        return len(self.set_cookies) == 1 and self.set_cookies[0].startswith(f"{self.name}=;") \
            and "Max-Age=0" in self.set_cookies[0]


async def test_starlette_round_trip_and_cookie_only_when_changed(serve: Callable[..., Uvicorn]) -> None:
    events: Events = []
    b = Browser(serve(keys=[KEY_A], max_age=3600, on_violation=events.append))
    r = await b.request("GET", "/get")
    assert r.json() == {} and b.set_cookies == []  # nothing to keep: no cookie
    await b.request("POST", '/set/cart?value=[1,"two",{"x":null}]')
    first = b.cookie
    assert first is not None and first.startswith("v1.A.")
    (header,) = b.set_cookies
    attributes = header.split("; ")[1:]
    assert attributes[0] == "Path=/" and "HttpOnly" in attributes and "SameSite=Lax" in attributes
    assert "Secure" not in attributes  # Starlette's default: https_only=False
    assert 3595 <= b.max_age() <= 3600
    session = opened([KEY_A], "session", first)
    assert session["user_id"] is None and session["data"] == {"cart": [1, "two", {"x": None}]}
    assert session["expires_at"] - session["created_at"] == timedelta(hours=1)

    r = await b.request("GET", "/get")
    assert r.json() == {"cart": [1, "two", {"x": None}]} and b.set_cookies == []  # unchanged: no Set-Cookie
    await b.request("POST", '/set/cart?value=[1,"two",{"x":null}]')  # the same value again
    assert b.set_cookies == []
    await b.request("POST", "/set/theme?value=%22dark%22")
    assert b.cookie != first
    again = opened([KEY_A], "session", b.cookie)
    # A write keeps the sealed expiry; the cookie carries the time left.
    assert again["expires_at"] == session["expires_at"] and again["created_at"] == session["created_at"]
    assert b.max_age() <= 3600
    assert (await b.request("GET", "/get")).json() == {"cart": [1, "two", {"x": None}], "theme": "dark"}
    # Emptied by the app: the session is over, the cookie cleared.
    await b.request("POST", "/clear")
    assert b.cleared() and b.cookie is None
    assert types(events, 0) == []  # good cookies raise nothing


async def test_starlette_login_is_a_new_seal_and_logout_clears(serve: Callable[..., Uvicorn]) -> None:
    b = Browser(serve(keys=[KEY_A], max_age=600))
    await b.request("POST", "/set/theme?value=%22dark%22")
    anonymous = b.cookie
    before = opened([KEY_A], "session", anonymous)
    await b.request("POST", "/login/alice")
    alice = b.cookie
    assert alice is not None and alice != anonymous
    session = opened([KEY_A], "session", alice)
    assert session["user_id"] == "alice" and session["data"] == {"theme": "dark"}  # anonymous data carried
    assert session["created_at"] > before["created_at"]
    assert (await b.request("GET", "/whoami")).json() == {"user": "alice"}
    # The same user again: a new seal, the data kept, and what the request set after login too.
    await b.request("POST", "/login/alice?value=1")
    assert b.cookie != alice
    assert opened([KEY_A], "session", b.cookie)["data"] == {"theme": "dark", "after": 1}
    # Another user: nothing of alice's session goes over.
    await b.request("POST", "/login/bob?value=2")
    bob = opened([KEY_A], "session", b.cookie)
    assert bob["user_id"] == "bob" and bob["data"] == {"after": 2}
    assert (await b.request("GET", "/get")).json() == {"after": 2}
    await b.request("POST", "/logout")
    assert b.cleared()
    assert (await b.request("GET", "/whoami")).json() == {"user": None} and b.set_cookies == []
    # rotate: a new value, the same session.
    await b.request("POST", "/set/x?value=1")
    value = b.cookie
    await b.request("POST", "/rotate")
    assert b.cookie != value and opened([KEY_A], "session", b.cookie)["data"] == {"x": 1}


async def test_starlette_key_rotation_while_running(serve: Callable[..., Uvicorn]) -> None:
    events: Events = []
    old = Browser(serve(keys=[KEY_A], on_violation=events.append))
    await old.request("POST", "/set/cart?value=[1]")
    a_sealed = old.cookie
    assert a_sealed is not None and a_sealed.startswith("v1.A.")

    # Deploy 2: B seals, A still opens. The old value opens, and that response seals it again
    # with B, its expiry unchanged; from then on it is an ordinary B value.
    rotated = serve(keys=[KEY_B, KEY_A], on_violation=events.append)
    b = Browser(rotated)
    b.cookie = a_sealed
    assert (await b.request("GET", "/get")).json() == {"cart": [1]}
    b_sealed = b.cookie
    assert b_sealed is not None and b_sealed.startswith("v1.B.")
    before, after = opened([KEY_A], "session", a_sealed), opened([KEY_B], "session", b_sealed)
    assert after == before
    assert (await b.request("GET", "/get")).json() == {"cart": [1]} and b.set_cookies == []
    await b.request("POST", "/set/more?value=2")
    b_sealed = b.cookie
    assert b_sealed is not None and b_sealed.startswith("v1.B.")

    # Deploy 3: A is gone. The B value opens; the A value is no session, cleared, and reported
    # (on the server's event loop, as an AsyncStore's events are).
    only_b = serve(keys=[KEY_B], on_violation=lambda e: events.append({**e, "thread": threading.get_ident()}))
    fresh = Browser(only_b)
    fresh.cookie = b_sealed
    assert (await fresh.request("GET", "/get")).json() == {"cart": [1], "more": 2}
    stale = Browser(only_b)
    stale.cookie = a_sealed
    assert (await stale.request("GET", "/get")).json() == {}
    assert stale.cleared()
    assert types(events) == ["cookie_tampered"]
    event = events[0]
    assert event["site_id"] == "" and event["session_id_hash"] is None and '"session"' in event["message"]
    assert isinstance(event["at"], datetime)
    assert event["thread"] == only_b.thread.ident


def _bad_cookies(good: str, other_key_value: str, name: str) -> List[Tuple[str, bytes, str]]:
    """(case, raw Cookie header, the violation it raises)."""
    middle = len(good) // 2
    prefix, body = good[:5], good[5:]
    # Cut at a whole base64 group, so that what is left still decodes: the tag check fails.
    truncated = prefix + body[: (len(body) // 4 - 1) * 4]
    flipped = good[:middle] + ("A" if good[middle] != "A" else "B") + good[middle + 1:]
    return [
        ("truncated", f"{name}={truncated}".encode(), "cookie_tampered"),
        ("truncated-short", f"{name}={good[:12]}".encode(), "cookie_malformed"),
        ("non-base64", f"{name}=v1.A.!!!!not*base64!!!!".encode(), "cookie_malformed"),
        ("not-ascii", f"{name}=".encode() + good[:-2].encode() + "é".encode(), "cookie_malformed"),
        ("tampered", f"{name}={flipped}".encode(), "cookie_tampered"),
        ("wrong-key", f"{name}={other_key_value}".encode(), "cookie_tampered"),
        ("oversized", f"{name}=v1.A.{'A' * 5000}".encode(), "cookie_oversized"),
        ("duplicated", f"{name}={good}; other=1; {name}={good}".encode(), "cookie_duplicated"),
    ]


BAD_CASES = ["truncated", "truncated-short", "non-base64", "not-ascii", "tampered", "wrong-key", "oversized",
             "duplicated"]


@pytest.mark.parametrize("case", BAD_CASES)
async def test_starlette_bad_cookie_is_no_session_a_cleared_cookie_and_an_event(
    serve: Callable[..., Uvicorn], case: str
) -> None:
    events: Events = []
    server = serve(keys=[KEY_A], on_violation=events.append)
    b = Browser(server)
    await b.request("POST", "/set/secret?value=42")
    assert b.cookie is not None
    other = Sealer([OTHER_BYTES_UNDER_A], "session").seal(data={"secret": 43})
    (_, raw, violation), = [c for c in _bad_cookies(b.cookie, other, "session") if c[0] == case]
    for path in ("/get", "/whoami"):
        r = await b.request("GET", path, raw=raw)
        assert r.status_code == 200
        assert r.json() in ({}, {"user": None})
        assert b.cleared(), b.set_cookies
    assert types(events, 2) == [violation, violation]
    if case == "oversized":
        assert events[0]["limit"] == 4096 and events[0]["size"] == len(raw)
    # Writing over a bad cookie starts a new session.
    r = await b.request("POST", "/set/fresh?value=1", raw=raw)
    assert r.status_code == 200 and opened([KEY_A], "session", b.cookie)["data"] == {"fresh": 1}


async def test_starlette_expired_value_replayed(serve: Callable[..., Uvicorn]) -> None:
    events: Events = []
    b = Browser(serve(keys=[KEY_A], on_violation=events.append))
    await b.request("POST", "/expiry?seconds=1")
    value = b.cookie
    assert value is not None and b.max_age() == 1
    assert (await b.request("GET", "/get")).json() == {"expiring": True}
    await asyncio.sleep(1.1)
    r = await b.request("GET", "/get", raw=f"session={value}".encode())
    assert r.status_code == 200 and r.json() == {} and b.cleared()
    assert types(events) == ["cookie_expired"]


async def test_starlette_max_age_none_rolling_and_options(serve: Callable[..., Uvicorn]) -> None:
    b = Browser(serve(keys=[KEY_A], max_age=None, session_cookie="__Host-s", https_only=True,
                      same_site="strict"), name="__Host-s")
    await b.request("POST", "/set/x?value=1")
    (header,) = b.set_cookies
    assert "Max-Age" not in header and "Secure" in header and "SameSite=Strict" in header
    assert opened([KEY_A], "__Host-s", b.cookie)["expires_at"] is None
    # The value is bound to its cookie name: under another name it does not open.
    assert Sealer([KEY_A], "session").open(b.cookie or "")["reason"] == "tampered"

    rolling = Browser(serve(keys=[KEY_A], max_age=3, rolling=True))
    await rolling.request("POST", "/set/x?value=1")
    first = opened([KEY_A], "session", rolling.cookie)
    await rolling.request("GET", "/get")
    assert rolling.set_cookies == []  # less than half the window passed
    await asyncio.sleep(1.6)
    assert (await rolling.request("GET", "/get")).json() == {"x": 1}
    renewed = opened([KEY_A], "session", rolling.cookie)
    assert renewed["expires_at"] > first["expires_at"] and renewed["created_at"] == first["created_at"]


async def test_starlette_session_too_big_for_a_cookie_is_an_app_error(serve: Callable[..., Uvicorn]) -> None:
    b = Browser(serve(keys=[KEY_A]))
    r = await b.request("POST", "/big")
    assert r.status_code == 500 and b.set_cookies == []  # SessionSizeExceededError, never a dropped cookie


@pytest.mark.parametrize(
    "keys, option",
    [([], "keys"), ([("A", bytes(31))], "keys"), ([("A", b"short")], "keys"), ([("A", bytes(33))], "keys"),
     ("not a list", "keys")],
)
def test_starlette_bad_keys_fail_at_construction(keys: Any, option: str) -> None:
    with pytest.raises(ConfigInvalidError) as e:
        SessionMiddleware(None, keys=keys)
    assert e.value.details["option"] == option


@pytest.mark.parametrize(
    "options, option",
    [({"same_site": "none"}, "same_site"), ({"session_cookie": "a b"}, "session_cookie"),
     ({"session_cookie": "__Host-x", "path": "/app"}, "session_cookie"), ({"max_age": -1}, "max_age"),
     ({"rolling": True, "max_age": None}, "rolling"), ({"max_cookie_bytes": 0}, "max_cookie_bytes"),
     ({"on_violation": 1}, "on_violation"), ({"domain": "bad domain"}, "domain")],
)
def test_starlette_bad_options_name_the_option(options: Dict[str, Any], option: str) -> None:
    with pytest.raises(ConfigInvalidError) as e:
        SessionMiddleware(None, keys=[KEY_A], **options)
    assert e.value.details["option"] == option


async def test_starlette_login_checks_the_user_at_the_call() -> None:
    scope: Dict[str, Any] = {"type": "http", "headers": []}
    mw = SessionMiddleware(None, keys=[KEY_A])
    state = mw._load(scope)
    for bad in (None, "", True, 1.5):
        with pytest.raises(SessionInvalidError):
            await state.login(bad)  # type: ignore[arg-type]
    await state.login(42)
    assert state.user_id == "42"


# --- tests/conformance/sealed/hosts.json: shared with Node's sealed adapters ---------------------

HOSTS = json.loads((pathlib.Path(__file__).parents[1] / "conformance" / "sealed" / "hosts.json").read_text())


def host_ring(case: Dict[str, Any]) -> List[Tuple[str, bytes]]:
    return [(k, bytes.fromhex(HOSTS["keys"][k])) for k in case.get("ring", HOSTS["ring"])]


def host_cookie(case: Dict[str, Any]) -> Optional[str]:
    cookie: Optional[str] = case["cookie"]
    if cookie is not None:
        for name, value in HOSTS["values"].items():
            cookie = cookie.replace("{" + name + "}", value)
    return cookie


def check_set_cookie(case: Dict[str, Any], value: Optional[str], cleared: bool) -> None:
    """``value``: the new value of the cookie the response set (None: none, or a clear)."""
    want = case["expect"]["set_cookie"]
    if want is None:
        assert value is None and not cleared
    elif want == "clear":
        assert cleared
    else:
        key_id = want.split(":", 1)[1]
        assert value is not None and value.startswith(f"v1.{key_id}.")
        before = Sealer(host_ring(case), HOSTS["cookie_name"]).open(host_cookie(case).split("=", 1)[1])  # type: ignore[union-attr]
        after = Sealer(host_ring(case), HOSTS["cookie_name"]).open(value)
        assert after["session"] is not None and "stale" not in after
        assert before["session"] is not None and after["session"]["user_id"] == before["session"]["user_id"]
        assert after["session"]["data"] == before["session"]["data"]


@pytest.fixture(scope="module")
def host_servers() -> Iterator[Callable[[List[Tuple[str, bytes]]], Tuple[Uvicorn, Events]]]:
    """One Starlette server per key ring (none with a lifetime option), and its events."""
    servers: Dict[Tuple[str, ...], Tuple[Uvicorn, Events]] = {}

    def get(ring: List[Tuple[str, bytes]]) -> Tuple[Uvicorn, Events]:
        key = tuple(k for k, _ in ring)
        if key not in servers:
            events: Events = []
            app = make_app(keys=ring, session_cookie=HOSTS["cookie_name"], max_age=None, on_violation=events.append)
            servers[key] = (Uvicorn(app), events)
        servers[key][1].clear()
        return servers[key]

    yield get
    for server, _ in servers.values():
        server.stop()


@pytest.mark.parametrize("case", HOSTS["cases"], ids=[c["name"] for c in HOSTS["cases"]])
async def test_hosts_conformance_starlette(case: Dict[str, Any], host_servers: Any) -> None:
    server, events = host_servers(host_ring(case))
    b = Browser(server, name=HOSTS["cookie_name"])
    cookie = host_cookie(case)
    r = await b.request("GET", "/opened", raw=None if cookie is None else cookie.encode("latin-1"))
    assert r.status_code == 200 and r.json() == {"opened": case["expect"]["session"]}
    assert len(b.set_cookies) <= 1
    cleared = b.cleared()
    check_set_cookie(case, b.cookie if b.set_cookies and not cleared else None, cleared)
    violation = case["expect"]["violation"]
    assert types(events, 1 if violation else 0) == ([violation] if violation else [])


def _opened_view(request: Any) -> Any:
    from django.http import JsonResponse

    request.session.get("anything")  # Django reads the session on first use
    return JsonResponse({"opened": request.session.session_key is not None})


@pytest.mark.parametrize("case", HOSTS["cases"], ids=[c["name"] for c in HOSTS["cases"]])
def test_hosts_conformance_django(case: Dict[str, Any]) -> None:
    from django.urls import path

    events: Events = []
    module = sys.modules[__name__]
    module.urlpatterns = [path("opened", _opened_view)]  # type: ignore[attr-defined]
    with override_settings(SESSION_ENGINE="omnisession.django_cookies", MIDDLEWARE=[MIDDLEWARE[0]],
                           ROOT_URLCONF=__name__, SESSION_COOKIE_NAME=HOSTS["cookie_name"],
                           OMNISESSION_SEALED={"keys": host_ring(case), "on_violation": events.append}):
        cookie = host_cookie(case)
        r = Client().get("/opened", **({} if cookie is None else {"HTTP_COOKIE": cookie}))
        assert r.status_code == 200 and r.json() == {"opened": case["expect"]["session"]}
        morsel = r.cookies.get(HOSTS["cookie_name"])
        cleared = morsel is not None and morsel.value == "" and str(morsel["max-age"]) == "0"
        check_set_cookie(case, None if morsel is None or cleared else str(morsel.value), cleared)
    reset_sealer()
    violation = case["expect"]["violation"]
    assert types(events, 1 if violation else 0) == ([violation] if violation else [])


# --- Django -------------------------------------------------------------------------------------

MIDDLEWARE = ["omnisession.django_cookies.SessionMiddleware", "django.contrib.auth.middleware.AuthenticationMiddleware"]


@pytest.fixture(scope="module")
def users(django_db: None) -> None:
    """djproject's database with alice and bob (conftest's django_db)."""


@pytest.fixture
def django_events() -> Iterator[Events]:
    events: Events = []
    with override_settings(SESSION_ENGINE="omnisession.django_cookies", MIDDLEWARE=MIDDLEWARE,
                           OMNISESSION_SEALED={"keys": [KEY_A], "on_violation": events.append}):
        yield events
    reset_sealer()


def cookie(client: Client) -> Optional[str]:
    morsel = client.cookies.get("sessionid")
    return None if morsel is None or not morsel.value else str(morsel.value)


def django_cleared(response: Any) -> bool:
    morsel = response.cookies.get("sessionid")
    return morsel is not None and morsel.value == "" and str(morsel["max-age"]) == "0"


@pytest.mark.usefixtures("users")
def test_django_round_trip_login_logout(django_events: Events) -> None:
    c = Client()
    assert c.get("/get", {"key": "theme"}).json() == {"value": None} and cookie(c) is None
    c.post('/set?key=theme&value="dark"')
    anonymous = cookie(c)
    assert anonymous is not None and anonymous.startswith("v1.A.")
    session = opened([KEY_A], "sessionid", anonymous)
    assert session["user_id"] is None and session["data"] == {"theme": "dark"}
    assert session["expires_at"] - session["created_at"] == pytest.approx(timedelta(weeks=2), abs=timedelta(seconds=5))
    r = c.get("/get", {"key": "theme"})
    assert r.json() == {"value": "dark"} and "sessionid" not in r.cookies  # unchanged: no Set-Cookie

    c.post("/login?user=alice")
    alice = cookie(c)
    assert alice != anonymous
    session = opened([KEY_A], "sessionid", alice)
    alice_pk = str(User.objects.get(username="alice").pk)
    assert session["user_id"] == alice_pk and session["data"]["theme"] == "dark"  # anonymous data kept
    assert c.get("/whoami").json() == {"user": "alice"}
    # The same user again: a new seal (cycle_key), data kept.
    c.post("/login?user=alice")
    assert cookie(c) != alice and c.get("/get", {"key": "theme"}).json() == {"value": "dark"}
    # Another user: Django flushes, nothing of alice's session goes over.
    c.post("/login?user=bob")
    bob = opened([KEY_A], "sessionid", cookie(c))
    assert bob["user_id"] == str(User.objects.get(username="bob").pk) and "theme" not in bob["data"]
    assert c.get("/whoami").json() == {"user": "bob"}
    r = c.post("/logout")
    assert django_cleared(r) and cookie(c) is None
    del c.cookies["sessionid"]  # as a browser drops a Max-Age=0 cookie (the test client keeps "sessionid=")
    assert c.get("/whoami").json() == {"user": None}
    assert types(django_events, 0) == []


@pytest.mark.usefixtures("users")
def test_django_key_rotation_while_running(django_events: Events) -> None:
    c = Client()
    c.post("/set?key=cart&value=[1]")
    a_sealed = cookie(c)
    assert a_sealed is not None and a_sealed.startswith("v1.A.")
    with override_settings(OMNISESSION_SEALED={"keys": [KEY_B, KEY_A], "on_violation": django_events.append}):
        # The A value opens, and that response seals it again with B.
        r = c.get("/get", {"key": "cart"})
        assert r.json() == {"value": [1]} and str(r.cookies["sessionid"].value).startswith("v1.B.")
        r = c.get("/get", {"key": "cart"})
        assert r.json() == {"value": [1]} and "sessionid" not in r.cookies
        c.post("/set?key=more&value=2")
        b_sealed = cookie(c)
        assert b_sealed is not None and b_sealed.startswith("v1.B.")
    with override_settings(OMNISESSION_SEALED={"keys": [KEY_B], "on_violation": django_events.append}):
        assert c.get("/get", {"key": "more"}).json() == {"value": 2}
        r = c.get("/get", {"key": "cart"}, HTTP_COOKIE=f"sessionid={a_sealed}")
        assert r.status_code == 200 and r.json() == {"value": None} and django_cleared(r)
    assert types(django_events) == ["cookie_tampered"]


@pytest.mark.usefixtures("users")
@pytest.mark.parametrize("case", BAD_CASES)
def test_django_bad_cookie_is_no_session_a_cleared_cookie_and_an_event(django_events: Events, case: str) -> None:
    c = Client()
    c.post("/set?key=secret&value=42")
    good = cookie(c)
    assert good is not None
    other = Sealer([OTHER_BYTES_UNDER_A], "sessionid").seal(data={"secret": 43})
    (_, raw, violation), = [x for x in _bad_cookies(good, other, "sessionid") if x[0] == case]
    r = c.get("/get", {"key": "secret"}, HTTP_COOKIE=raw.decode("latin-1"))
    assert r.status_code == 200 and r.json() == {"value": None}
    assert django_cleared(r)
    assert types(django_events) == [violation]
    r = c.get("/whoami", HTTP_COOKIE=raw.decode("latin-1"))
    assert r.status_code == 200 and r.json() == {"user": None}


@pytest.mark.usefixtures("users")
def test_django_expired_value_replayed(django_events: Events) -> None:
    c = Client()
    c.post("/set?key=x&value=1")
    c.post("/expiry?seconds=1")
    value = cookie(c)
    session = opened([KEY_A], "sessionid", value)
    assert session["expires_at"] - datetime.now(timezone.utc) <= timedelta(seconds=1)  # set_expiry is sealed in
    time.sleep(1.1)
    r = c.get("/get", {"key": "x"}, HTTP_COOKIE=f"sessionid={value}")
    assert r.status_code == 200 and r.json() == {"value": None} and django_cleared(r)
    assert types(django_events) == ["cookie_expired"]


@pytest.mark.usefixtures("users")
def test_django_stock_middleware_works_but_keeps_one_of_duplicates(django_events: Events) -> None:
    stock = ["django.contrib.sessions.middleware.SessionMiddleware",
             "django.contrib.auth.middleware.AuthenticationMiddleware"]
    with override_settings(MIDDLEWARE=stock):
        c = Client()
        c.post("/set?key=x&value=1")
        value = cookie(c)
        assert c.get("/get", {"key": "x"}).json() == {"value": 1}
        # Django's cookie parser keeps the last of two: the engine sees one value.
        r = c.get("/get", {"key": "x"}, HTTP_COOKIE=f"sessionid=v1.A.forged; sessionid={value}")
        assert r.json() == {"value": 1}
    assert types(django_events, 0) == []


@pytest.mark.parametrize(
    "sealed, option",
    [({"keys": []}, "keys"), ({"keys": [("A", bytes(16))]}, "keys"), ({}, "keys"), ({"keys": [KEY_A], "nope": 1}, "nope"),
     ({"keys": [KEY_A], "max_cookie_bytes": 0}, "max_cookie_bytes")],
)
def test_django_bad_settings_fail_when_the_middleware_is_built(sealed: Dict[str, Any], option: str) -> None:
    with override_settings(SESSION_ENGINE="omnisession.django_cookies", OMNISESSION_SEALED=sealed):
        with pytest.raises(ConfigInvalidError) as e:
            DjangoSealedMiddleware(lambda request: HttpResponse())
        assert e.value.details["option"] == option
        with pytest.raises(ConfigInvalidError):
            get_sealer()
    reset_sealer()
