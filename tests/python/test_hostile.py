"""Hostile input through the Python binding: more than 200 bad data values (every kind docs/design.md
rejects, at every place a value can sit, through every write), hostile ids and oversized
inputs. Each gives its documented exception and stores nothing."""

from __future__ import annotations

import enum
import logging
import resource
from typing import Any, Callable, Dict, List, Tuple

import pytest

from omnisession import MemoryBackend, SessionError, SessionInvalidError, SessionNotSerializableError, Store
from omnisession import SessionSizeExceededError
from test_api import BAD_VALUES, deep, flush

class Color(enum.IntEnum):
    RED = 1


class Text(str):
    pass


# Where a value is put in the data, and the JSON pointer of that place.
PLACES: List[Tuple[str, Callable[[Any], Dict[str, Any]], str]] = [
    ("top-level", lambda v: {"v": v}, "/v"),
    ("in-a-list", lambda v: {"v": [v]}, "/v/0"),
    ("after-good-items", lambda v: {"v": [1, "two", None, v]}, "/v/3"),
    ("in-a-dict", lambda v: {"v": {"w": v}}, "/v/w"),
    ("deep-and-mixed", lambda v: {"a": [{"b": [{"c": v}]}]}, "/a/0/b/0/c"),
    ("beside-good-keys", lambda v: {"ok": True, "n": 1.5, "v": v}, "/v"),
]

# BAD_VALUES' paths are relative to {"v": value}; what follows "/v" is inside the value.
KINDS = [(value, path[len("/v"):], reason) for value, path, reason in BAD_VALUES] + [
    (deep(65), None, "nesting deeper than 64"),  # refused where the limit is reached
    (True.__class__, "", "type"),
    (range(3), "", "range"),
    (memoryview(b"x"), "", "memoryview"),
    (NotImplemented, "", "NotImplementedType"),
    (Ellipsis, "", "ellipsis"),
    ((x for x in []), "", "generator"),
    (iter([1]), "", "list_iterator"),
    (slice(1), "", "slice"),
    (Exception("x"), "", "Exception"),
    (Color.RED, "", "Color"),
    (Text("x"), "", "Text"),
    (print, "", "builtin_function_or_method"),
    (10**400, "", "outside"),
]
TABLE = [
    pytest.param(value, put, at, inner, reason, id=f"{type(value).__name__}{i}-{place}")
    for i, (value, inner, reason) in enumerate(KINDS)
    for place, put, at in PLACES
]


def test_the_table_holds_at_least_200_bad_values() -> None:
    assert len(TABLE) >= 200, len(TABLE)


@pytest.mark.parametrize("value,put,at,inner,reason", TABLE)
def test_a_bad_value_is_refused_everywhere_and_stores_nothing(
    value: Any, put: Callable[[Any], Dict[str, Any]], at: str, inner: Any, reason: str
) -> None:
    events: List[Dict[str, Any]] = []
    with Store.open(cleanup_interval=0, on_violation=events.append) as store:
        target = store.create("u", data={"keep": "me"})
        data = put(value)
        for write in (
            lambda: store.create("u", data=data),
            lambda: store.patch(target["id"], data),
            lambda: store.update({"id": target["id"], "data": data}),
        ):
            with pytest.raises(SessionNotSerializableError) as info:
                write()
            path = info.value.details["path"]
            if inner is None:
                assert path.startswith(at + "/"), path
            else:
                assert path == at + inner
            assert reason in info.value.details["reason"], info.value.details["reason"]
        assert store.count() == 1
        after = store.get(target["id"])
        assert after is not None and after["data"] == {"keep": "me"} and after["version"] == 1
        flush()
        assert [e["type"] for e in events] == ["not_serializable"] * 3


BAD_IDS = [
    "", "short", "a" * 21, "a" * 129, "../../../../etc/passwd", "..%2F..%2Fetc%2Fpasswd",
    "session:" + "a" * 30, "~idx:" + "a" * 30, "~tomb:" + "a" * 30, "*" * 30, "a" * 30 + "*",
    "a" * 30 + "?", "[a-z]" * 6, "a" * 30 + "\n" + "b" * 10, "a" * 30 + "\0", "a" * 30 + " ",
    "é" * 30, "🙂" * 30, "a" * 30 + "/", "a" * 30 + "\\", "a" * 30 + ".", "a" * 30 + "=",
    "a" * 30 + "+", "a' OR '1'='1" + "a" * 20, 'a' * 30 + '"', "a" * 100_000,
]


def test_malformed_ids_address_nothing() -> None:
    events: List[Dict[str, Any]] = []
    with Store.open(cleanup_interval=0, on_violation=events.append) as store:
        real = store.create("u")
        for bad in BAD_IDS:
            assert store.get(bad) is None
            for write in (
                lambda: store.create("u", id=bad),
                lambda: store.update({"id": bad, "data": {}}),
                lambda: store.patch(bad, {"a": 1}),
                lambda: store.touch(bad),
                lambda: store.rotate(bad),
                lambda: store.delete(bad),
            ):
                with pytest.raises(SessionInvalidError):
                    write()
        assert store.count() == 1 and store.get(real["id"]) is not None
        flush()
        assert sum(e["type"] == "malformed_id" for e in events) == len(BAD_IDS) * 7


@pytest.mark.parametrize("bad", [None, 42, 1.5, True, b"a" * 43, ["a" * 43], {"id": "a" * 43}, object()])
def test_an_id_that_is_not_a_str_is_session_invalid(bad: Any) -> None:
    with Store.open() as store:
        for op in (store.get, store.touch, store.rotate, store.delete):
            with pytest.raises(SessionInvalidError):
                op(bad)


def _max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def test_a_100_mib_string_is_refused_without_exhausting_memory() -> None:
    with Store.open(cleanup_interval=0) as store:
        before = _max_rss_bytes()
        big = "x" * (100 * 1024 * 1024)
        with pytest.raises(SessionSizeExceededError):
            store.create("u", data={"big": big})
        s = store.create("u")
        with pytest.raises(SessionSizeExceededError):
            store.patch(s["id"], {"big": big})
        del big
        grown = _max_rss_bytes() - before
        assert grown < 2 * 1024**3, f"peak RSS grew by {grown} bytes"
        assert store.count() == 1 and store.get(s["id"])["data"] == {}  # type: ignore[index]


def test_depth_10000_and_a_million_items_are_refused_without_a_crash() -> None:
    with Store.open(cleanup_interval=0) as store:
        nested: List[Any] = []
        cursor = nested
        for _ in range(10_000):
            cursor.append([])
            cursor = cursor[0]
        for data in ({"a": nested}, deep(10_000)):
            with pytest.raises(SessionNotSerializableError):
                store.create("u", data=data)
        with pytest.raises(SessionSizeExceededError):
            store.create("u", data={"a": [1] * 1_000_000})
        assert store.count() == 0


def test_every_refusal_is_a_session_error() -> None:
    assert issubclass(SessionNotSerializableError, SessionError)
    assert issubclass(SessionSizeExceededError, SessionError)


def test_raw_ids_never_reach_errors_events_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="omnisession")
    events: List[Dict[str, Any]] = []
    shared = MemoryBackend()  # both sites on one storage
    options: Dict[str, Any] = dict(backend=shared, cleanup_interval=0, max_session_size=600,
                                   max_sessions_per_user=1, eviction_policy="reject",
                                   on_violation=events.append)
    errors: List[str] = []
    with Store.open(site_id="shop", **options) as shop, Store.open(site_id="blog", **options) as blog:
        s = shop.create("alice")
        wanted = "w" * 43
        attempts: List[Callable[[], Any]] = [
            lambda: shop.patch(s["id"], {"big": "x" * 1000}),
            lambda: shop.patch(s["id"], {"when": {1, 2}}),
            lambda: shop.create("alice", id=wanted),
            lambda: blog.touch(s["id"]),
            lambda: blog.create("bob", id=s["id"]),
            lambda: shop.update({"id": s["id"], "data": {}, "version": 99}),
            lambda: shop.delete(s["id"]),
            lambda: shop.touch(s["id"]),
            lambda: shop.create("carol", id=s["id"]),
        ]
        assert blog.get(s["id"]) is None
        for attempt in attempts:
            try:
                attempt()
            except SessionError as e:
                errors.append(f"{e} {e.details!r} {e.args!r}")
        flush()
    assert len(errors) >= 8 and len(events) >= 6, (errors, events)
    everything = "\n".join(errors + [r.getMessage() + repr(r.__dict__) for r in caplog.records] + [repr(e) for e in events])
    for raw in (s["id"], wanted):
        assert raw not in everything, everything
    assert all(len(e["session_id_hash"] or "0" * 16) == 16 for e in events)
