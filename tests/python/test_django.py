"""omnisession.django as SESSION_ENGINE of a Django project, through Django's test client and
its SessionStore: django.contrib.auth login/logout, per-key saves, listing/revoking a user's
sessions, and what Django's own session tests (django_suite/) do not catch: the expiry of every
save, must_create, JSONSerializer's conversions, login's new id, the security log."""

from __future__ import annotations

import logging
import os
import secrets
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, List

import pytest

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djproject.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.contrib.sessions.backends.base import CreateError, UpdateError  # noqa: E402
from django.test import AsyncClient, Client, override_settings  # noqa: E402

import omnisession  # noqa: E402
from omnisession._native import _flush_callbacks  # noqa: E402
from omnisession.django import SessionStore, get_store, list_user_sessions, reset_store  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def database(django_db: None) -> Iterator[None]:
    yield
    reset_store()


def sid(client: Client) -> str:
    return str(client.cookies["sessionid"].value)


def saved(data: Any = None, **values: Any) -> SessionStore:
    s = SessionStore()
    s.update(data or values)
    s.save()
    return s


def test_anonymous_session_round_trip() -> None:
    c = Client()
    assert c.get("/get", {"key": "cart"}).json() == {"value": None}
    assert "sessionid" not in c.cookies  # nothing stored, no cookie
    c.post("/set?key=cart&value=[1,2]")
    key = sid(c)
    assert len(key) == 43  # an omnisession id
    assert c.get("/get", {"key": "cart"}).json() == {"value": [1, 2]}
    record = get_store().get(key)
    assert record is not None and record["user_id"] is None and record["data"] == {"cart": [1, 2]}


def test_login_gives_a_new_id_and_attaches_the_user_logout_deletes() -> None:
    c = Client()
    c.post('/set?key=theme&value="dark"')
    anonymous = sid(c)
    assert c.post("/login?user=alice").json() == {"ok": True}
    logged_in = sid(c)
    assert logged_in != anonymous
    assert get_store().get(anonymous) is None  # no fixation
    assert c.get("/whoami").json() == {"user": "alice"}
    assert c.get("/get", {"key": "theme"}).json() == {"value": "dark"}  # an anonymous session's data stays
    alice = User.objects.get(username="alice")
    assert logged_in in [s["id"] for s in list_user_sessions(alice)]
    # Django keeps the key when the same user signs in again; the store's login gives a new one.
    c.post("/login?user=alice")
    assert sid(c) != logged_in and get_store().get(logged_in) is None
    assert c.get("/whoami").json() == {"user": "alice"}
    again = sid(c)
    c.post("/logout")
    assert get_store().get(again) is None
    assert c.get("/whoami").json() == {"user": None}


def test_list_and_revoke_a_users_sessions() -> None:
    bob = User.objects.get(username="bob")
    laptop, phone = Client(), Client()
    for c in (laptop, phone):
        c.post("/login?user=bob")
    assert set(laptop.get("/sessions").json()["ids"]) == {sid(laptop), sid(phone)}
    assert laptop.post("/revoke-others").json() == {"revoked": 1}
    assert phone.get("/whoami").json() == {"user": None}
    assert laptop.get("/whoami").json() == {"user": "bob"}
    assert [s["id"] for s in list_user_sessions(bob)] == [sid(laptop)]
    # the store's per-user limit applies to Django logins too (max_sessions_per_user=3)
    for _ in range(4):
        Client().post("/login?user=bob")
    assert len(list_user_sessions(bob)) == 3


def test_login_records_the_user_agent_and_the_address_only_when_opted_in() -> None:
    def device_of(c: Client) -> Any:
        record = get_store().get(sid(c))
        assert record is not None and record["user_id"] is not None
        return record["user_agent"], record["ip_address"]

    c = Client(HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", REMOTE_ADDR="198.51.100.7")
    c.post("/login?user=alice")
    assert device_of(c) == ("Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", "")  # no address by default
    assert device_of(c) in [(s["user_agent"], s["ip_address"]) for s in list_user_sessions(User.objects.get(username="alice"))]
    with override_settings(OMNISESSION_RECORD_IP_ADDRESS=True):
        opted = Client(HTTP_USER_AGENT="phone/1", REMOTE_ADDR="198.51.100.8")
        opted.post("/login?user=alice")
        assert device_of(opted) == ("phone/1", "198.51.100.8")


def test_session_store_api_and_per_key_saves() -> None:
    key = saved(a=1).session_key
    assert key is not None and SessionStore().exists(key)
    one, two = SessionStore(key), SessionStore(key)
    assert one["a"] == 1 and two["a"] == 1  # both loaded before either saves
    one["x"] = "from one"
    two["y"] = "from two"
    one.save()
    two.save()
    assert dict(SessionStore(key).load()) == {"a": 1, "x": "from one", "y": "from two"}
    three = SessionStore(key)
    three.load()
    three.cycle_key()
    assert three.session_key != key and not three.exists(key)
    assert SessionStore(three.session_key).load() == {"a": 1, "x": "from one", "y": "from two"}
    three.delete()
    assert not three.exists(three.session_key or "")
    loaded = saved(z=1)
    racing = SessionStore(loaded.session_key)
    racing["z"] = 2  # loaded, then deleted by a parallel logout before it saves
    loaded.delete()
    with pytest.raises(UpdateError):
        racing.save()
    assert not loaded.exists(racing.session_key or "")
    unread = SessionStore(loaded.session_key)  # saved unread, as SESSION_SAVE_EVERY_REQUEST does
    with pytest.raises(UpdateError):
        unread.save()
    assert SessionStore("not a valid key!").load() == {}
    SessionStore.clear_expired()


def test_clearing_an_unread_session_empties_it() -> None:
    key = saved(a=1, b=2).session_key
    s = SessionStore(key)
    s.clear()  # Django empties the dict without reading the session first
    s["c"] = 3
    s.save()
    assert SessionStore(key).load() == {"c": 3}


def test_cycle_key_of_a_signed_in_session_keeps_the_user() -> None:
    s = saved({"_auth_user_id": "7", "cart": [1]})
    old = s.session_key
    s["theme"] = "dark"  # pending: saved with the new id
    s.cycle_key()
    assert s.session_key != old and get_store().get(old or "") is None
    record = get_store().get(s.session_key or "")
    assert record is not None and record["user_id"] == "7"
    assert record["data"] == {"_auth_user_id": "7", "cart": [1], "theme": "dark"}


def test_a_save_that_changes_the_user_carries_none_of_the_old_users_data() -> None:
    s = saved({"_auth_user_id": "7", "secret": "of user 7"})
    s["_auth_user_id"] = "8"  # no flush: the engine does not hand user 7's session to user 8
    s.save()
    record = get_store().get(s.session_key or "")
    assert record is not None and record["user_id"] == "8" and record["data"] == {"_auth_user_id": "8"}
    assert dict(s.items()) == {"_auth_user_id": "8"}


def test_set_expiry_after_the_first_save_reaches_the_store() -> None:
    s = saved(a=1)
    s.set_expiry(300)
    s.save()
    record = get_store().get(s.session_key or "")
    assert record is not None and record["expires_at"] is not None
    assert timedelta(seconds=298) < record["expires_at"] - datetime.now(timezone.utc) <= timedelta(seconds=300)
    s.set_expiry(0)  # until the browser closes: the server keeps it SESSION_COOKIE_AGE
    s.save()
    record = get_store().get(s.session_key or "")
    assert record is not None and record["expires_at"] is not None
    age = timedelta(seconds=settings.SESSION_COOKIE_AGE)
    assert age - timedelta(seconds=2) < record["expires_at"] - datetime.now(timezone.utc) <= age


def test_less_than_a_second_left_is_not_never() -> None:
    s = saved(a=1)
    s.set_expiry(datetime.now(timezone.utc) + timedelta(milliseconds=400))
    s.save()
    record = get_store().get(s.session_key or "")
    assert record is not None and record["expires_at"] is not None
    time.sleep(0.5)
    assert SessionStore(s.session_key).load() == {}


def test_must_create_on_an_existing_key_raises_create_error() -> None:
    s = saved(a=1)
    twin = SessionStore(s.session_key)
    twin["a"] = 2
    with pytest.raises(CreateError):
        twin.save(must_create=True)
    assert SessionStore(s.session_key).load() == {"a": 1}  # nothing was patched
    unknown = secrets.token_urlsafe(32)
    fresh = SessionStore(unknown)
    fresh.save(must_create=True)  # as Django's create() does: that very key, not read first
    assert fresh.session_key == unknown and fresh.exists(unknown)


def test_data_is_stored_as_djangos_json_serializer_would() -> None:
    s = saved(cart={1: 2, 2.5: "x", False: 1, None: 0}, pair=(1, (2, 3)))
    assert SessionStore(s.session_key).load() == {
        "cart": {"1": 2, "2.5": "x", "false": 1, "null": 0},
        "pair": [1, [2, 3]],
    }


@pytest.mark.parametrize("value,path", [({1, 2}, "/v"), (datetime.now(), "/v"), (b"x", "/v"), ({(1, 2): 3}, "/v")])
def test_what_json_serializer_refuses_raises_the_packages_error(value: Any, path: str) -> None:
    s = SessionStore()
    s["v"] = value
    with pytest.raises(omnisession.SessionNotSerializableError) as caught:
        s.save()
    assert caught.value.details["path"] == path and caught.value.details["reason"]


def test_forged_and_replayed_ids_reach_the_security_log(caplog: pytest.LogCaptureFixture) -> None:
    events: List[str] = []
    try:
        with override_settings(OMNISESSION={"backend": omnisession.MemoryBackend(),
                                            "on_violation": lambda e: events.append(e["type"])}):
            reset_store()
            s = saved(a=1)
            old = s.session_key
            s.cycle_key()
            with caplog.at_level(logging.WARNING, logger="django.security.SuspiciousSession"):
                assert SessionStore(old).load() == {}  # a rotated id presented again
                assert SessionStore("not-a-session-id!").load() == {}
                _flush_callbacks()
    finally:
        reset_store()
    logged = [r.getMessage() for r in caplog.records if r.name == "django.security.SuspiciousSession"]
    assert len(logged) == 2 and "presented again" in logged[0] and "not of the form" in logged[1]
    assert events == ["replayed_id", "malformed_id"]  # the project's own callback, too


async def test_async_twins() -> None:
    s = SessionStore()
    await s.aset("k", "v")
    await s.asave()
    key = s.session_key
    assert key is not None and await s.aexists(key)
    other = SessionStore(key)
    assert await other.aload() == {"k": "v"}
    await other.acycle_key()
    assert other.session_key != key and not await other.aexists(key)
    await other.adelete()
    assert not await other.aexists(other.session_key or "")
    await SessionStore.aclear_expired()
    fresh = SessionStore()
    await fresh.acreate()
    assert fresh.session_key is not None and await fresh.aexists(fresh.session_key)


async def test_async_client_login() -> None:
    c = AsyncClient()
    r = await c.post("/login?user=alice")
    assert r.json() == {"ok": True}
    assert (await c.get("/whoami")).json() == {"user": "alice"}


def test_store_is_reopened_after_fork_like_pid_change(monkeypatch: pytest.MonkeyPatch) -> None:
    first = get_store()
    monkeypatch.setattr(os, "getpid", lambda: -1)
    assert get_store() is not first
