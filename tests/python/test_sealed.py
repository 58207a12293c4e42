"""Sealed client-side sessions from Python: every vector of
tests/conformance/sealed/vectors.json, round trips, key rotation, argument and configuration
errors, and that no message or repr shows key bytes.

The v1 seal vectors give exact values for a fixed nonce, which only the Rust test runner can
choose (``seal_with_nonce`` is test-only and not exposed: reusing a nonce breaks AES-GCM). Here
each seal vector's value is opened back to its session, and a fresh seal of that session has
the same length and key id and opens to the same session (core/tests/sealed.rs checks the
bytes; tests/interop/test_sealed_interop.py decrypts Python's seals with node:crypto and finds
each vector's exact payload). Datetimes carry microseconds, so a vector's nanoseconds are
truncated to them. Then ``open`` of a request's list of values, and the violation events."""

from __future__ import annotations

import json
import pathlib
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List

import pytest

import omnisession
from omnisession import (
    ConfigInvalidError,
    Sealer,
    SeedsOpener,
    SessionError,
    SessionInvalidError,
    SessionNotSerializableError,
    SessionSizeExceededError,
)

VECTORS: Dict[str, Any] = json.loads(
    (pathlib.Path(__file__).parents[1] / "conformance" / "sealed" / "vectors.json").read_text()
)
V1 = VECTORS["v1"]
SEEDS = VECTORS["seeds"]

NOW = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
UTC_RE = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z$")


def ts(text: str) -> datetime:
    """A vector's RFC 3339 UTC timestamp, truncated to microseconds as the binding gives it."""
    m = UTC_RE.match(text)
    assert m, text
    micros = int(((m.group(7) or "") + "000000")[:6])
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    return datetime(y, mo, d, h, mi, s, micros, tzinfo=timezone.utc)


def session_of(v: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "user_id": v["user_id"],
        "data": v["data"] or {},
        "created_at": ts(v["created_at"]),
        "expires_at": None if v["expires_at"] is None else ts(v["expires_at"]),
    }


def v1_keys(ids: List[str]) -> List[tuple[str, bytes]]:
    return [(i, bytes.fromhex(V1["keys"][i])) for i in ids]


def sealer(*keys: tuple[str, int], max_cookie_bytes: int = 4096, name: str = "sid") -> Sealer:
    return Sealer([(k, bytes([n]) * 32) for k, n in keys], name, max_cookie_bytes)


# --- the vectors -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", V1["seal"], ids=[c["name"] for c in V1["seal"]])
def test_v1_seal_vectors_open_and_reseal_to_the_same_shape(case: Dict[str, Any]) -> None:
    s = Sealer(v1_keys([case["key"]]), V1["cookie_name"], V1["max_cookie_bytes"])
    want = session_of(case["session"])
    now = want["expires_at"] or want["created_at"]
    assert s.open(case["value"], now) == {"session": want, "reason": None}

    sess = case["session"]
    value = s.seal(
        sess["user_id"],
        data=sess["data"],
        created_at=want["created_at"],
        expires_at=want["expires_at"],
    )
    assert value.startswith(f"v1.{case['key']}.")
    if want["created_at"].microsecond * 1000 == _nanos(sess["created_at"]):
        # Same payload (no sub-microsecond digits lost), so the same length for any nonce.
        assert len(value) == len(case["value"])
    assert value != case["value"]
    assert s.open(value, now) == {"session": want, "reason": None}


def _nanos(text: str) -> int:
    m = UTC_RE.match(text)
    assert m
    return int(((m.group(7) or "") + "000000000")[:9])


@pytest.mark.parametrize("case", V1["open"], ids=[c["name"] for c in V1["open"]])
def test_v1_open_vectors(case: Dict[str, Any]) -> None:
    s = Sealer(v1_keys(case["ring"]), case["cookie_name"], case["max_cookie_bytes"])
    got = s.open(case["value"], ts(case["now"]))
    if "session" in case["expect"]:
        want: Dict[str, Any] = {"session": session_of(case["expect"]["session"]), "reason": None}
        if not case["value"].startswith(f"v1.{case['ring'][0]}."):
            want["stale"] = True  # opened under another key than the first: to be re-sealed
    else:
        want = {"session": None, "reason": case["expect"]["reason"]}
    assert got == want


@pytest.mark.parametrize("case", SEEDS["open"], ids=[c["name"] for c in SEEDS["open"]])
def test_seeds_vectors(case: Dict[str, Any]) -> None:
    opener = SeedsOpener(bytes.fromhex(SEEDS["keys"][case["key"]]))
    got = opener.open(case["value"])
    if "json" in case["expect"]:
        assert got == {"json": case["expect"]["json"], "reason": None}
    else:
        assert got == {"json": None, "reason": case["expect"]["reason"]}


def test_vector_counts() -> None:
    assert len(V1["seal"]) >= 4 and len(V1["open"]) >= 20 and len(SEEDS["open"]) >= 10


# --- round trips and rotation -------------------------------------------------------------------


def test_round_trip_and_every_seal_differs() -> None:
    s = sealer(("a", 1))
    created = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=timezone.utc)
    expires = created + timedelta(hours=1)
    data = {"cart": [1, 2.5, "<x>", {"deep": None}], "whole": 2.0, "t": True, "é": "漢🙂"}
    one = s.seal("user-1", data=data, created_at=created, expires_at=expires)
    two = s.seal("user-1", data=data, created_at=created, expires_at=expires)
    assert one != two
    assert one.startswith("v1.a.") and re.fullmatch(r"[A-Za-z0-9_.-]+", one)
    want = {
        "user_id": "user-1",
        "data": {**data, "whole": 2},
        "created_at": created,
        "expires_at": expires,
    }
    for value in (one, two):
        got = s.open(value, created)
        assert got == {"session": want, "reason": None}
        session = got["session"]
        assert session is not None and type(session["data"]["whole"]) is int
    # Expiry: live at expires_at, expired a microsecond after.
    assert s.open(one, expires)["reason"] is None
    assert s.open(one, expires + timedelta(microseconds=1)) == {"session": None, "reason": "expired"}


def test_defaults_anonymous_now_int_user_and_naive_datetimes() -> None:
    s = sealer(("a", 1))
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    got = s.open(s.seal(data={}))
    session = got["session"]
    assert session is not None
    assert session["user_id"] is None and session["data"] == {} and session["expires_at"] is None
    assert before <= session["created_at"] <= datetime.now(timezone.utc)
    assert session["created_at"].tzinfo is not None

    naive = datetime(2024, 5, 1, 10, 0)
    value = s.seal(42, data=None, created_at=naive, expires_at=naive + timedelta(minutes=1))
    session = s.open(value, naive)["session"]
    assert session is not None
    assert session["user_id"] == "42" and session["data"] == {}
    assert session["created_at"] == naive.replace(tzinfo=timezone.utc)
    # Another offset is the same instant.
    plus2 = timezone(timedelta(hours=2))
    assert s.open(value, datetime(2024, 5, 1, 12, 1, 0, 1, tzinfo=plus2))["reason"] == "expired"


def test_rotation_new_key_in_front_still_opens_old_values() -> None:
    value = sealer(("b", 2)).seal("u", data={"x": 1}, created_at=NOW)
    a_then_b = sealer(("a", 1), ("b", 2))
    opened = a_then_b.open(value, NOW)
    assert opened["session"] is not None and opened["session"]["data"] == {"x": 1}
    assert opened.get("stale") is True  # b is not the sealing key any more
    assert "stale" not in sealer(("b", 2), ("a", 1)).open(value, NOW)
    assert a_then_b.open([value], NOW).get("stale") is True
    resealed = a_then_b.seal("u", data={"x": 1}, created_at=NOW)
    assert resealed.startswith("v1.a.")
    assert sealer(("a", 1)).open(resealed, NOW)["session"] is not None
    assert sealer(("a", 1)).open(value, NOW) == {"session": None, "reason": "tampered"}
    assert sealer(("b", 9)).open(value, NOW) == {"session": None, "reason": "tampered"}
    assert sealer(("a", 1), name="other").open(resealed, NOW)["reason"] == "tampered"
    # bytearray keys are the same key.
    ba = Sealer([("a", bytearray([1] * 32))], "sid")
    assert ba.open(resealed, NOW)["session"] is not None


# --- open never raises for a str ----------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["", "v1", "v1..", "v1.a.", "v1.a.!!!", "\ud800", "v1.a.\ud800", "\x00" * 10, "é" * 50,
     "v1.a." + "A" * 5000, "v1." + "a" * 17 + ".AAAA", "=" * 40, "v2.a.AAAA"],
)
def test_open_never_raises_for_any_str(value: str) -> None:
    assert sealer(("a", 1)).open(value, NOW)["session"] is None
    assert SeedsOpener(bytes(32)).open(value)["json"] is None


def test_open_reasons_are_the_four_names() -> None:
    s = sealer(("a", 1), max_cookie_bytes=64)
    assert s.open("x" * 100, NOW)["reason"] == "oversized"
    assert s.open("nope", NOW)["reason"] == "malformed"
    assert SeedsOpener(bytes(16)).open("A" * 5000)["reason"] == "oversized"


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "keys, name, limit, option",
    [
        ([], "sid", 4096, "keys"),
        ([("a", bytes(16))], "sid", 4096, "keys"),
        ([("a", bytes(33))], "sid", 4096, "keys"),
        ([("a", bytes(32)), ("a", bytes(32))], "sid", 4096, "keys"),
        ([("", bytes(32))], "sid", 4096, "keys"),
        ([("a.b", bytes(32))], "sid", 4096, "keys"),
        ([("x" * 17, bytes(32))], "sid", 4096, "keys"),
        ([("a", "0" * 32)], "sid", 4096, "keys"),
        ([(1, bytes(32))], "sid", 4096, "keys"),
        ([("a", bytes(32), "extra")], "sid", 4096, "keys"),
        ([bytes(32)], "sid", 4096, "keys"),
        ("a", "sid", 4096, "keys"),
        (None, "sid", 4096, "keys"),
        ([("a", bytes(32))], "", 4096, "cookie_name"),
        ([("a", bytes(32))], "a b", 4096, "cookie_name"),
        ([("a", bytes(32))], None, 4096, "cookie_name"),
        ([("a", bytes(32))], "sid", 0, "max_cookie_bytes"),
        ([("a", bytes(32))], "sid", -1, "max_cookie_bytes"),
        ([("a", bytes(32))], "sid", True, "max_cookie_bytes"),
        ([("a", bytes(32))], "sid", "4096", "max_cookie_bytes"),
    ],
)
def test_configuration_errors_name_the_option(keys: Any, name: Any, limit: Any, option: str) -> None:
    with pytest.raises(ConfigInvalidError) as e:
        Sealer(keys, name, limit)
    assert e.value.code == "CONFIG_INVALID" and e.value.details["option"] == option


@pytest.mark.parametrize("key", [b"", bytes(15), bytes(17), bytes(31), bytes(33), "0" * 16, None])
def test_seeds_key_errors(key: Any) -> None:
    with pytest.raises(ConfigInvalidError) as e:
        SeedsOpener(key)
    assert e.value.details["option"] == "key"


def test_seeds_key_lengths() -> None:
    for n in (16, 24, 32):
        assert repr(SeedsOpener(bytes(n))) == f"<omnisession.SeedsOpener aes_bits={n * 8}>"


def test_seal_errors_come_from_the_core() -> None:
    s = sealer(("a", 1))
    with pytest.raises(SessionNotSerializableError) as e:
        s.seal(data={"big": 9_007_199_254_740_993})
    assert e.value.details["path"] == "/big"
    with pytest.raises(SessionNotSerializableError) as e:
        s.seal(data={"t": (1, 2)})
    assert e.value.details["path"] == "/t" and "tuple" in e.value.details["reason"]
    with pytest.raises(SessionNotSerializableError):
        s.seal(data=[1])  # type: ignore[arg-type]
    with pytest.raises(SessionInvalidError):
        s.seal("", data={})
    with pytest.raises(SessionSizeExceededError) as e:
        s.seal(data={"blob": "x" * 3100})
    assert e.value.details["limit"] == 4096 and e.value.details["size"] > 4096
    s.seal(data={"blob": "x" * 2900})
    with pytest.raises(SessionInvalidError) as e:
        s.seal(data={}, created_at="2024-05-01")  # type: ignore[arg-type]
    assert e.value.details["argument"] == "created_at"
    with pytest.raises(SessionInvalidError) as e:
        s.seal(data={}, expires_at=3600)  # type: ignore[arg-type]
    assert e.value.details["argument"] == "expires_at"
    with pytest.raises(SessionInvalidError):
        s.open(None, NOW)  # type: ignore[arg-type]
    with pytest.raises(SessionInvalidError) as e:
        s.open("v1.a.AAAA", now=1)  # type: ignore[arg-type]
    assert e.value.details["argument"] == "now"
    with pytest.raises(TypeError):
        s.seal("u")  # type: ignore[call-arg]
    assert issubclass(SessionSizeExceededError, SessionError)


# --- no key bytes anywhere ------------------------------------------------------------------------


def test_no_message_or_repr_contains_key_bytes() -> None:
    key = bytes([0xAB]) * 32
    shown: List[str] = []
    s = Sealer([("k1", key), ("k2", bytes([0xCD]) * 32)], "sid")
    shown += [repr(s), str(s)]
    assert repr(s) == '<omnisession.Sealer key_ids=["k1", "k2"] cookie_name="sid" max_cookie_bytes=4096>'
    seeds = SeedsOpener(bytes([0xAB]) * 16)
    shown += [repr(seeds), str(seeds)]
    bad_calls: List[Any] = [
        lambda: Sealer([("k1", key[:31])], "sid"),
        lambda: Sealer([("k1", key), ("k1", key)], "sid"),
        lambda: Sealer([("k.1", key)], "sid"),
        lambda: Sealer([("k1", key)], "a b"),
        lambda: Sealer([("k1", key, key)], "sid"),
        lambda: Sealer([(key, key)], "sid"),
        lambda: Sealer([("k1", key.hex())], "sid"),
        lambda: SeedsOpener(key[:20]),
        lambda: SeedsOpener(key.hex()),
        lambda: s.seal(data={"x": {1, 2}}),
        lambda: s.seal(data={"x": "y" * 5000}),
    ]
    for call in bad_calls:
        with pytest.raises(SessionError) as e:
            call()
        shown += [str(e.value), repr(e.value), json.dumps(e.value.details, default=str)]
    forbidden = [key.hex(), key[:4].hex(), "171", "\\xab", "ab, ab", "0xab", "205", "\\xcd"]
    for text in shown:
        for f in forbidden:
            assert f not in text.lower(), (f, text)


def test_exported_from_the_package() -> None:
    assert "Sealer" in omnisession.__all__ and "SeedsOpener" in omnisession.__all__
    assert omnisession.Sealer is Sealer



# --- a request's values, and the violation events ------------------------------------------------


def test_open_takes_every_value_of_a_request() -> None:
    events: List[Dict[str, Any]] = []
    s = Sealer([("a", bytes([1]) * 32)], "sid", on_violation=events.append)
    value = s.seal("u", data={"x": 1}, created_at=NOW)
    # None sent: no session, no reason, nothing reported.
    assert s.open([], NOW) == {"session": None, "reason": None}
    assert s.open((), NOW) == {"session": None, "reason": None}
    one = s.open([value], NOW)
    assert one == s.open(value, NOW) == s.open((value,), NOW) and one["session"] is not None
    # Several (even the same value twice): which one the browser meant is unknowable.
    assert s.open([value, value], NOW) == {"session": None, "reason": "duplicated"}
    assert s.open(["junk", value, "v1.a.AAAA"], NOW)["reason"] == "duplicated"
    assert s.open(["\ud800"], NOW)["reason"] == "malformed"
    for bad in ([value, 1], [b"v1"], None, b"v1.a.AAAA", {value}, 7):
        with pytest.raises(SessionInvalidError) as e:
            s.open(bad, NOW)  # type: ignore[arg-type]
        assert e.value.details["argument"] == "value"
    assert omnisession._native._flush_callbacks(5.0)
    assert [e["type"] for e in events] == ["cookie_duplicated", "cookie_duplicated", "cookie_malformed"]


def test_every_refusal_is_a_violation_event() -> None:
    events: List[Dict[str, Any]] = []
    s = Sealer([("a", bytes([1]) * 32)], "sid", 256, on_violation=events.append)
    live = s.seal("u", data={}, created_at=NOW, expires_at=NOW)
    other = sealer(("a", 2), max_cookie_bytes=256).seal(data={})
    cases = [
        ("nope", "malformed"),
        (other, "tampered"),
        (live, "expired"),
        ("v1.a." + "A" * 300, "oversized"),
        ("\ud800\ud800", "malformed"),
    ]
    for value, reason in cases:
        at = NOW + timedelta(seconds=1) if reason == "expired" else NOW
        assert s.open(value, at) == {"session": None, "reason": reason}
    assert s.open(live, NOW)["session"] is not None  # a good value reports nothing
    assert omnisession._native._flush_callbacks(5.0)
    assert [e["type"] for e in events] == [f"cookie_{r}" for _, r in cases]
    for e in events:
        assert set(e) == {"type", "session_id_hash", "user_id", "site_id", "size", "limit", "message", "at"}
        assert e["session_id_hash"] is None and e["user_id"] is None and e["site_id"] == ""
        assert '"sid"' in e["message"] and e["at"].tzinfo is not None
    oversized = events[3]
    assert oversized["size"] == len("sid=v1.a.") + 300 and oversized["limit"] == 256
    assert events[2]["at"] == NOW + timedelta(seconds=1)
    for e in events:  # the value itself is never in an event
        assert other not in e["message"] and live not in e["message"]


def test_on_violation_is_delivered_as_a_stores() -> None:
    """Queued, then: without a running loop on the dispatcher thread (as a blocking Store's);
    from code on a loop, on that loop (as an AsyncStore's), a coroutine awaited there; a
    callback that raises is logged and never reaches open."""
    import asyncio
    import threading

    seen: List[Any] = []

    def sync_cb(event: Dict[str, Any]) -> None:
        try:
            loop: Any = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        seen.append((event["type"], threading.get_ident(), loop))

    s = Sealer([("a", bytes(32))], "sid", on_violation=sync_cb)
    s.open("bad")
    assert omnisession._native._flush_callbacks(5.0)
    ((kind, thread, loop),) = seen
    assert kind == "cookie_malformed" and loop is None and thread != threading.get_ident()  # the dispatcher

    async def on_a_loop() -> None:
        seen.clear()
        s.open(["x", "y"])
        assert omnisession._native._flush_callbacks(5.0)
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
        assert seen == [("cookie_duplicated", threading.get_ident(), asyncio.get_running_loop())]

        awaited: List[str] = []

        async def async_cb(event: Dict[str, Any]) -> None:
            await asyncio.sleep(0)
            awaited.append(event["type"])

        a = Sealer([("a", bytes(32))], "sid", on_violation=async_cb)
        a.open("bad")
        assert omnisession._native._flush_callbacks(5.0)
        for _ in range(100):
            if awaited:
                break
            await asyncio.sleep(0.01)
        assert awaited == ["cookie_malformed"]

    asyncio.run(on_a_loop())
    asyncio.run(on_a_loop())  # another loop later: delivered on that one

    def boom(event: Dict[str, Any]) -> None:
        raise ValueError("callback bug")

    b = Sealer([("a", bytes(32))], "sid", on_violation=boom)
    assert b.open("bad")["reason"] == "malformed"
    assert omnisession._native._flush_callbacks(5.0)


@pytest.mark.parametrize("callback", [1, "print", object()])
def test_on_violation_must_be_callable(callback: Any) -> None:
    with pytest.raises(ConfigInvalidError) as e:
        Sealer([("a", bytes(32))], "sid", on_violation=callback)
    assert e.value.details["option"] == "on_violation"
    Sealer([("a", bytes(32))], "sid", None, None)  # None: unset
