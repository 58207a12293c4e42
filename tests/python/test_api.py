"""Host-specific behaviour of the Python binding: values, exceptions, options, callbacks."""

from __future__ import annotations

import asyncio
import decimal
import logging
from collections import OrderedDict
from datetime import date, datetime, timedelta, timezone
from typing import Any, Dict, List

import pytest

import omnisession
from omnisession import (
    AsyncStore,
    BackendError,
    ConfigInvalidError,
    SessionError,
    SessionInvalidError,
    SessionNotFoundError,
    SessionNotSerializableError,
    Store,
    StoreClosedError,
)


def flush() -> None:
    assert omnisession._native._flush_callbacks(5.0)


async def settle() -> None:
    flush()
    for _ in range(3):
        await asyncio.sleep(0)


def cyclic_list() -> Any:
    a: List[Any] = [1]
    a.append(a)
    return a


def cyclic_dict() -> Any:
    d: Dict[str, Any] = {}
    d["self"] = d
    return d


def deep(levels: int) -> Dict[str, Any]:
    d: Dict[str, Any] = {}
    for _ in range(levels - 1):
        d = {"k": d}
    return d


class Thing:
    pass


BAD_VALUES = [
    (float("nan"), "/v", "not finite"),
    (float("inf"), "/v", "not finite"),
    (float("-inf"), "/v", "not finite"),
    (b"bytes", "/v", "bytes"),
    (bytearray(b"x"), "/v", "bytearray"),
    ({1, 2}, "/v", "set"),
    (frozenset([1]), "/v", "frozenset"),
    ((1, 2), "/v", "tuple"),
    (datetime(2030, 1, 1, tzinfo=timezone.utc), "/v", "datetime"),
    (date(2030, 1, 1), "/v", "date"),
    (decimal.Decimal("1.5"), "/v", "Decimal"),
    (Thing(), "/v", "Thing"),
    (object(), "/v", "object"),
    (2**53, "/v", "outside"),
    (-(2**53), "/v", "outside"),
    (2**64, "/v", "outside"),
    (-(2**70), "/v", "outside"),
    (1 + 2j, "/v", "complex"),
    ({1: "x"}, "/v", "not a str"),
    ({("a",): "x"}, "/v", "not a str"),
    (cyclic_list(), "/v/1", "cycle"),
    (cyclic_dict(), "/v/self", "cycle"),
    ([[{"ok": [1, (2,)]}]], "/v/0/0/ok/1", "tuple"),
    (OrderedDict(a=1), "/v", "OrderedDict"),
    ("\ud800", "/v", "surrogate"),
    (lambda: 1, "/v", "function"),
]


@pytest.fixture
def events() -> List[Dict[str, Any]]:
    return []


@pytest.mark.parametrize("value,path,reason", BAD_VALUES, ids=[repr(type(v).__name__) + str(i) for i, (v, _, _) in enumerate(BAD_VALUES)])
def test_every_bad_value_is_refused_with_its_path(value: Any, path: str, reason: str, events: List[Any]) -> None:
    with Store.open(on_violation=events.append) as store:
        for write in (
            lambda: store.create("u", data={"v": value}),
            lambda: store.patch(store.create("u")["id"], {"v": value}),
            lambda: store.update({"id": store.create("u")["id"], "data": {"v": value}}),
        ):
            with pytest.raises(SessionNotSerializableError) as info:
                write()
            assert info.value.code == "SESSION_NOT_SERIALIZABLE"
            assert info.value.details["path"] == path
            assert reason in info.value.details["reason"]
        flush()
        assert [e["type"] for e in events] == ["not_serializable"] * 3
        assert store.count() == 2  # the two sessions created to be patched/updated, unchanged
        for s in store.list()["sessions"]:
            assert s["data"] == {}


def test_depth_limit_is_the_cores() -> None:
    with Store.open() as store:
        ok = store.create("u", data=deep(64))
        assert store.get(ok["id"])["data"] == deep(64)
        with pytest.raises(SessionNotSerializableError) as info:
            store.create("u", data=deep(65))
        assert "nesting deeper than 64" in info.value.details["reason"]
        with pytest.raises(SessionNotSerializableError):
            store.create("u", data=deep(10_000))  # no recursion error, no crash


def test_data_must_be_a_dict() -> None:
    with Store.open() as store:
        for bad in ([1], "x", 1, OrderedDict()):
            with pytest.raises(SessionNotSerializableError) as info:
                store.create("u", data=bad)
            assert info.value.details["path"] == "/"


def test_values_round_trip_exactly_and_bool_stays_bool() -> None:
    data = {
        "t": True, "f": False, "n": None, "i": 1, "neg": -(2**53 - 1), "big": 2**53 - 1,
        "x": 2.5, "s": "<é>\u2028", "l": [True, 0, 1, 0.5, [], {}], "d": {"k": {"k": [None]}},
        "empty": "",
    }
    with Store.open() as store:
        s = store.create("u", data=data)
        got = store.get(s["id"])["data"]
        assert got == data
        assert got["t"] is True and got["f"] is False
        assert type(got["i"]) is int and type(got["x"]) is float
        assert [type(v) for v in got["l"]] == [bool, int, int, float, list, dict]
        # A whole float reads back as an int (what Go and JSON write): documented.
        assert store.patch(s["id"], {"w": 2.0})["data"]["w"] == 2


def test_sessions_are_dicts_with_wire_names_and_aware_datetimes() -> None:
    with Store.open(default_ttl=timedelta(hours=1)) as store:
        s = store.create(42, data={"a": 1}, ip_address="10.0.0.1", user_agent="UA", organization_id="org")
        assert list(s) == ["id", "user_id", "site_id", "organization_id", "data", "created_at",
                           "updated_at", "last_accessed_at", "expires_at", "ip_address",
                           "user_agent", "version"]
        assert s["user_id"] == "42" and s["version"] == 1 and len(s["id"]) == 43
        for key in ("created_at", "updated_at", "last_accessed_at", "expires_at"):
            assert s[key].tzinfo is not None and s[key].utcoffset() == timedelta(0)
        assert s["expires_at"] - s["created_at"] == timedelta(hours=1)
        assert abs(s["created_at"] - datetime.now(timezone.utc)) < timedelta(seconds=5)
        forever = store.create("u", expires_at="never")
        assert forever["expires_at"] is None
        now = store.create("u", ttl=0)  # a ttl of 0 is now, not never
        assert now["expires_at"] == now["created_at"]


def test_results_are_copies() -> None:
    with Store.open() as store:
        s = store.create("u", data={"l": [1]})
        s["data"]["l"].append(2)
        assert store.get(s["id"])["data"] == {"l": [1]}


def test_every_code_is_a_subclass_with_code_and_details() -> None:
    codes = {
        "SESSION_INVALID", "SESSION_NOT_SERIALIZABLE", "SESSION_SIZE_EXCEEDED", "SESSION_NOT_FOUND",
        "SESSION_EXPIRED", "SESSION_LIMIT_EXCEEDED", "SESSION_CONFLICT", "STORE_CLOSED",
        "BACKEND_UNAVAILABLE", "BACKEND_ERROR", "CONFIG_INVALID",
    }
    classes = {omnisession.error_class(c) for c in codes}
    assert len(classes) == 11
    for c in codes:
        cls = omnisession.error_class(c)
        assert issubclass(cls, SessionError) and cls.code == c
        assert getattr(omnisession, cls.__name__) is cls


def test_errors_raised_by_the_store() -> None:
    clock = omnisession.ManualClock()
    with Store.open(max_session_size=400, max_sessions_per_user=1, eviction_policy="reject",
                    clock=clock, idle_timeout=10) as store:
        s = store.create("u")
        cases = [
            (lambda: store.create(""), "SESSION_INVALID"),
            (lambda: store.create("u2", data={"x": "y" * 500}), "SESSION_SIZE_EXCEEDED"),
            (lambda: store.touch("A" * 43), "SESSION_NOT_FOUND"),
            (lambda: store.create("u"), "SESSION_LIMIT_EXCEEDED"),
            (lambda: store.create("u9", id=s["id"]), "SESSION_CONFLICT"),
            (lambda: store.patch(s["id"], {"a": 1}, version=7), "SESSION_CONFLICT"),
        ]
        for call, code in cases:
            with pytest.raises(SessionError) as info:
                call()
            assert info.value.code == code, info.value
            assert type(info.value) is omnisession.error_class(code)
        e = pytest.raises(SessionError, lambda: store.create("u2", data={"x": "y" * 500})).value
        assert e.details["limit"] == 400 and e.details["size"] > 400 and "session_id_hash" in e.details
        clock.advance(11)
        with pytest.raises(omnisession.SessionExpiredError):
            store.touch(s["id"])
    with pytest.raises(StoreClosedError):
        store.get(s["id"])


@pytest.mark.parametrize("options,option", [
    ({"bogus": 1}, "bogus"),
    ({"max_session_size": "big"}, "max_session_size"),
    ({"max_session_size": -1}, "max_session_size"),
    ({"max_session_size": True}, "max_session_size"),
    ({"default_ttl": "1h"}, "default_ttl"),
    ({"default_ttl": -1}, "default_ttl"),
    ({"default_ttl": True}, "default_ttl"),
    ({"idle_timeout": timedelta(microseconds=1500)}, "idle_timeout"),
    ({"idle_timeout": float("nan")}, "idle_timeout"),
    ({"eviction_policy": "random"}, "eviction_policy"),
    ({"backend": "sqlite"}, "path"),
    ({"backend": "nosuch"}, "backend"),
    ({"backend": "redis", "url": "http://x"}, "url"),
    ({"on_violation": 5}, "on_violation"),
    ({"clock": "now"}, "clock"),
    ({"site_id": object()}, "site_id"),
    ({"backend": object()}, "backend"),
    ({"allow_anonymous": "yes"}, "allow_anonymous"),
])
async def test_bad_options_are_config_invalid(options: Dict[str, Any], option: str) -> None:
    with pytest.raises(ConfigInvalidError) as info:
        Store.open(**options)
    assert info.value.details["option"] == option
    with pytest.raises(ConfigInvalidError) as info:
        await AsyncStore.open(**options)
    assert info.value.details["option"] == option


def test_durations_take_timedelta_or_seconds(tmp_path: Any) -> None:
    clock = omnisession.ManualClock(datetime(2030, 1, 1, tzinfo=timezone.utc))
    for ttl in (timedelta(seconds=90), 90, 90.0):
        with Store.open(default_ttl=ttl, clock=clock, idle_timeout=timedelta(0), path=tmp_path / "x.db", backend="sqlite") as store:
            s = store.create("u")
            assert s["expires_at"] == datetime(2030, 1, 1, 0, 1, 30, tzinfo=timezone.utc)
            assert store.create("u", ttl=0.5)["expires_at"] == datetime(2030, 1, 1, 0, 0, 0, 500000, tzinfo=timezone.utc)
            with pytest.raises(SessionInvalidError):
                store.create("u", ttl=-1)
            with pytest.raises(SessionInvalidError):
                store.create("u", ttl="1h")


@pytest.mark.parametrize("bad", [1, None, b"id", ["x"], 1.5])
async def test_non_str_ids_are_session_invalid(bad: Any) -> None:
    with Store.open() as store:
        for call in (store.get, store.touch, store.rotate, store.delete, lambda i: store.patch(i, {})):
            with pytest.raises(SessionInvalidError) as info:
                call(bad)
            assert info.value.details["argument"] == "id"
    store2 = await AsyncStore.open()
    aw = store2.get(bad)  # the error arrives through the awaitable
    with pytest.raises(SessionInvalidError):
        await aw
    await store2.close()


def test_user_ids_str_or_int_never_bool() -> None:
    with Store.open() as store:
        assert store.create(7)["user_id"] == "7"
        assert len(store.list_by_user_id(7)) == 1
        for bad in (True, 1.5, b"u", ["u"]):
            with pytest.raises(SessionInvalidError):
                store.create(bad)


async def test_async_store_every_op_and_context_manager(backend: Dict[str, Any]) -> None:
    async with await AsyncStore.open(**backend) as store:
        a = await store.create("alice", data={"n": 1})
        b = await store.create("alice", data={"n": 2})
        assert (await store.get(a["id"]))["data"] == {"n": 1}
        assert await store.get("A" * 43) is None
        u = await store.update({**a, "data": {"n": 10}})
        assert u["version"] == 2 and u["data"] == {"n": 10}
        p = await store.patch(a["id"], {"m": 1}, ["n"])
        assert p["data"] == {"m": 1} and p["version"] == 3
        t = await store.touch(a["id"])
        assert t["version"] == 3
        r = await store.rotate(a["id"])
        assert r["id"] != a["id"] and await store.get(a["id"]) is None
        assert {s["id"] for s in await store.list_by_user_id("alice")} == {r["id"], b["id"]}
        page = await store.list(limit=1)
        assert len(page["sessions"]) == 1 and page["cursor"] is not None
        assert await store.count() == 2
        assert await store.cleanup() == 0
        await store.delete(b["id"])
        assert await store.delete_by_user_id("alice") == 1
        await store.create("bob")
        assert await store.clear() == 1
    with pytest.raises(StoreClosedError):
        await store.count()
    await store.close()  # idempotent


def test_blocking_store_every_op(backend: Dict[str, Any]) -> None:
    with Store.open(**backend) as store:
        a = store.create("alice", data={"n": 1})
        assert store.patch(a["id"], {"x": [1]})["data"] == {"n": 1, "x": [1]}
        assert store.rotate(a["id"])["id"] != a["id"]
        assert store.count() == 1 and store.clear() == 1 and store.count() == 0


async def test_uvloop() -> None:
    import uvloop  # a test extra (not on Windows)

    async def main() -> int:
        store = await AsyncStore.open()
        created = await asyncio.gather(*(store.create("u", data={"i": i}) for i in range(200)))
        got = await asyncio.gather(*(store.get(s["id"]) for s in created))
        assert [g["data"]["i"] for g in got] == list(range(200))
        n = await store.count()
        await store.close()
        return int(n)

    def run() -> int:
        return int(uvloop.run(main()))

    assert await asyncio.get_running_loop().run_in_executor(None, run) == 200


async def test_sync_and_async_callbacks_run_on_the_loop_and_exceptions_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import threading

    seen: List[Any] = []
    loop_thread = threading.get_ident()

    def sync_cb(e: Dict[str, Any]) -> None:
        seen.append(("sync", e["type"], threading.get_ident() == loop_thread))
        raise ValueError("callback bug")

    async def async_cb(e: Dict[str, Any]) -> None:
        await asyncio.sleep(0)
        seen.append(("async", e["type"], threading.get_ident() == loop_thread))
        raise KeyError("async callback bug")

    with caplog.at_level(logging.INFO, logger="omnisession"):
        s1 = await AsyncStore.open(on_violation=sync_cb, max_session_size=300)
        s2 = await AsyncStore.open(on_violation=async_cb)
        with pytest.raises(omnisession.SessionSizeExceededError):
            await s1.create("u", data={"x": "y" * 400})
        assert await s2.get("bad id") is None  # malformed_id, reported, not raised
        ok = await s1.create("u")  # the store keeps working after a failing callback
        await settle()
        await asyncio.sleep(0.05)
        await settle()
        assert ("sync", "size_exceeded", True) in seen
        assert ("async", "malformed_id", True) in seen
        assert await s1.get(ok["id"]) is not None
        messages = [r.getMessage() for r in caplog.records if r.name == "omnisession"]
        assert any("ValueError" in m for m in messages), messages
        assert any("KeyError" in m for m in messages), messages
        assert any("session policy violation" in m and "size_exceeded" in m for m in messages), messages
        # no raw id in any event or log line
        assert not any(ok["id"] in m for m in messages)
        await s1.close()
        await s2.close()


def test_blocking_store_callbacks_sync_and_async(caplog: pytest.LogCaptureFixture) -> None:
    seen: List[str] = []

    async def acb(e: Dict[str, Any]) -> None:
        seen.append("async:" + e["type"])

    def bad(e: Dict[str, Any]) -> None:
        seen.append("sync:" + e["type"])
        raise RuntimeError("boom")

    with Store.open(on_violation=acb) as a, Store.open(on_violation=bad) as b:
        a.get("short")
        b.get("short")
        flush()
    assert seen == ["async:malformed_id", "sync:malformed_id"]
    assert any("RuntimeError" in r.getMessage() for r in caplog.records)


def test_violation_event_shape() -> None:
    events: List[Dict[str, Any]] = []
    with Store.open(on_violation=events.append, site_id="a", max_session_size=300) as store:
        with pytest.raises(omnisession.SessionSizeExceededError):
            store.create("u", data={"x": "y" * 400}, id="violation-shape-000000000000000")
        flush()
    (e,) = events
    assert set(e) == {"type", "session_id_hash", "user_id", "site_id", "size", "limit", "message", "at"}
    assert e["type"] == "size_exceeded" and e["site_id"] == "a" and e["user_id"] == "u"
    assert e["session_id_hash"] == omnisession.hash_session_id("violation-shape-000000000000000")
    assert e["limit"] == 300 and e["size"] > 300
    assert isinstance(e["at"], datetime) and e["at"].tzinfo is not None


async def test_panics_become_backend_error() -> None:
    with pytest.raises(BackendError) as info:
        omnisession._native._panic_for_tests(False)
    assert "panic" in str(info.value)
    with pytest.raises(BackendError):
        await omnisession._native._panic_for_tests(True)


def test_manual_clock() -> None:
    start = datetime(2030, 1, 1, tzinfo=timezone.utc)
    clock = omnisession.ManualClock(start)
    clock.advance(timedelta(minutes=1))
    clock.advance(1.5)
    assert clock.now() == start + timedelta(minutes=1, seconds=1.5)
    clock.set(start)
    assert clock.now() == start
    with pytest.raises(TypeError):
        clock.advance("1s")
    with Store.open(clock=clock, default_ttl=60) as store:
        s = store.create("u")
        clock.advance(60)
        assert store.get(s["id"]) is not None
        clock.advance(0.001)
        assert store.get(s["id"]) is None


def test_hash_session_id_is_stable_and_hides_the_id() -> None:
    h = omnisession.hash_session_id("x" * 43)
    assert h == omnisession.hash_session_id("x" * 43) and len(h) == 16 and "x" not in h


def test_memory_backend_is_shared_between_stores() -> None:
    shared = omnisession.MemoryBackend()
    with Store.open(backend=shared, site_id="a") as a, Store.open(backend=shared, site_id="a") as b:
        s = a.create("u")
        assert b.get(s["id"]) is not None
    with Store.open() as c, Store.open() as d:
        s = c.create("u")
        assert d.get(s["id"]) is None


def test_pathlib_paths(tmp_path: Any) -> None:
    with Store.open(backend="sqlite", path=tmp_path / "p.db") as store:
        store.create("u")
    assert (tmp_path / "p.db").exists()


def test_redis_unreachable_is_backend_unavailable() -> None:
    from conftest import free_port

    with pytest.raises(omnisession.BackendUnavailableError):
        Store.open(backend="redis", url=f"redis://127.0.0.1:{free_port()}")


def test_logging_goes_through_the_omnisession_logger(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="omnisession"):
        with Store.open(max_sessions_per_user=1) as store:
            store.create("u")
            store.create("u")  # evicts: a violation (warning) and an info line
            flush()
    warnings = [r for r in caplog.records if r.name == "omnisession" and r.levelno == logging.WARNING]
    assert any("session_limit_exceeded" in r.getMessage() for r in warnings)
    assert not any(r.levelno < logging.WARNING for r in caplog.records if r.name == "omnisession")


ID_HASH_KEY = "a python test server key of forty bytes."


def test_ids_hashed_at_rest_list_as_ids_at_rest_and_never_reach_the_disk(tmp_path: Any) -> None:
    path = tmp_path / "s.db"
    with Store.open(backend="sqlite", path=str(path), cleanup_interval=0,
                    ids_at_rest="hmac-sha256", id_hash_key=ID_HASH_KEY) as store:
        a = store.create("u", data={"n": 1})
        b = store.rotate(store.create("u")["id"])
        assert store.get(a["id"])["data"] == {"n": 1}
        listed = sorted(s["id"] for s in store.list_by_user_id("u"))
        assert listed == sorted([store.id_at_rest(a["id"]), store.id_at_rest(b["id"])])
        assert a["id"] not in listed
        store.delete_at_rest(store.id_at_rest(a["id"]))
        assert store.get(a["id"]) is None
    dump = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for id in (a["id"], b["id"]):
        assert id.encode() not in dump


async def test_async_store_has_the_same_at_rest_methods() -> None:
    store = await AsyncStore.open(cleanup_interval=0, ids_at_rest="sha256")
    s = await store.create("u")
    assert store.id_at_rest(s["id"]) != s["id"]
    assert [x["id"] for x in await store.list_by_user_id("u")] == [store.id_at_rest(s["id"])]
    await store.delete_at_rest(store.id_at_rest(s["id"]))
    assert await store.get(s["id"]) is None
    await store.close()


def test_a_short_id_hash_key_is_config_invalid_and_never_shown() -> None:
    with pytest.raises(ConfigInvalidError) as err:
        Store.open(ids_at_rest="hmac-sha256", id_hash_key="too short a secret")
    assert err.value.details["option"] == "id_hash_key"
    assert "too short a secret" not in str(err.value)
    with pytest.raises(ConfigInvalidError) as err:
        Store.open(ids_at_rest="sha256", omnistorage_compat=True)
    assert err.value.details["option"] == "ids_at_rest"
