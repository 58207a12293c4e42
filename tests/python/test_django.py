"""omnisession.django as SESSION_ENGINE of a Django project, through Django's test client,
with django.contrib.auth login/logout, per-key saves, and listing/revoking a user's sessions."""

from __future__ import annotations

import os
from typing import Iterator

import pytest

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djproject.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.contrib.sessions.backends.base import UpdateError  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import AsyncClient, Client  # noqa: E402

import omnisession  # noqa: E402
from omnisession.django import SessionStore, get_store, list_user_sessions, reset_store  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def database() -> Iterator[None]:
    call_command("migrate", verbosity=0, interactive=False)
    User.objects.create_user("alice", password="pw")
    User.objects.create_user("bob", password="pw")
    yield
    reset_store()


def sid(client: Client) -> str:
    return str(client.cookies["sessionid"].value)


def test_anonymous_session_round_trip() -> None:
    c = Client()
    assert c.get("/get").json() == {}
    assert "sessionid" not in c.cookies  # nothing stored, no cookie
    c.get("/set", {"k": "cart", "v": "[1, 2]"})
    key = sid(c)
    assert len(key) == 43  # an omnisession id
    assert c.get("/get").json() == {"cart": [1, 2]}
    record = get_store().get(key)
    assert record is not None and record["user_id"] is None and record["data"] == {"cart": [1, 2]}


def test_login_rotates_and_attaches_the_user_logout_deletes() -> None:
    c = Client()
    c.get("/set", {"k": "theme", "v": '"dark"'})
    anonymous = sid(c)
    assert c.post("/login", {"username": "alice", "password": "pw"}).json() == {"ok": True}
    logged_in = sid(c)
    assert logged_in != anonymous
    assert get_store().get(anonymous) is None  # cycle_key rotated it away: no fixation
    assert c.get("/whoami").json() == {"user": "alice"}
    assert c.get("/get").json() == {"theme": "dark"}
    alice = User.objects.get(username="alice")
    assert logged_in in [s["id"] for s in list_user_sessions(alice)]
    c.post("/logout")
    assert get_store().get(logged_in) is None
    assert c.get("/whoami").json() == {"user": None}


def test_list_and_revoke_a_users_sessions() -> None:
    bob = User.objects.get(username="bob")
    laptop, phone = Client(), Client()
    for c in (laptop, phone):
        c.post("/login", {"username": "bob", "password": "pw"})
    assert set(laptop.get("/sessions").json()["ids"]) == {sid(laptop), sid(phone)}
    assert laptop.get("/revoke-others").json() == {"revoked": 1}
    assert phone.get("/whoami").json() == {"user": None}
    assert laptop.get("/whoami").json() == {"user": "bob"}
    assert [s["id"] for s in list_user_sessions(bob)] == [sid(laptop)]
    # the store's per-user limit applies to Django logins too (max_sessions_per_user=3)
    for _ in range(4):
        Client().post("/login", {"username": "bob", "password": "pw"})
    assert len(list_user_sessions(bob)) == 3


def test_session_store_api_and_per_key_saves() -> None:
    s = SessionStore()
    s["a"] = 1
    s.save()
    key = s.session_key
    assert key is not None and s.exists(key)
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
    loaded = SessionStore()
    loaded["z"] = 1
    loaded.save()
    racing = SessionStore(loaded.session_key)
    racing["z"] = 2  # loaded, then deleted by a parallel logout before it saves
    loaded.delete()
    with pytest.raises(UpdateError):
        racing.save()
    assert not loaded.exists(racing.session_key or "")
    assert SessionStore("not a valid key!").load() == {}
    SessionStore.clear_expired()


def test_bad_values_raise_the_packages_error() -> None:
    s = SessionStore()
    s["when"] = {1, 2}
    with pytest.raises(omnisession.SessionNotSerializableError):
        s.save()


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
    r = await c.post("/login", {"username": "alice", "password": "pw"})
    assert r.json() == {"ok": True}
    assert (await c.get("/whoami")).json() == {"user": "alice"}


def test_store_is_reopened_after_fork_like_pid_change(monkeypatch: pytest.MonkeyPatch) -> None:
    first = get_store()
    monkeypatch.setattr(os, "getpid", lambda: -1)
    assert get_store() is not first
