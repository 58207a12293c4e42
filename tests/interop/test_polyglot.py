"""One session, three languages: Node and Python processes (and the Go program, on Redis) share
sessions on one SQLite file and one Redis, and every control holds across them.

Sessions are compared in the wire form (snake_case names, RFC 3339 UTC), as each peer reports
them and as the backend stores them.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Set

import pytest
from interop_harness import backend, go_program, open_peer, redis_only, redis_server  # noqa: F401 (fixtures)

LANGS = ["node", "python"]
DIRECTIONS = [pytest.param("node", "python", id="node-to-python"),
              pytest.param("python", "node", id="python-to-node")]
HOUR = 3_600_000
CONFLICT = {"error": "SESSION_CONFLICT"}
NOT_FOUND = {"error": "SESSION_NOT_FOUND"}
GO_USER = "550e8400-e29b-41d4-a716-446655440000"
GO_ORG = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"

# Every JSON value type the contract allows, at its edges.
DATA: Dict[str, Any] = {
    "null": None,
    "yes": True,
    "no": False,
    "zero": 0,
    "negative": -17,
    "max_safe": 2**53 - 1,
    "min_safe": -(2**53 - 1),
    "tenth": 0.1,
    "small": -2.5e-7,
    "huge": 1e300,
    "subnormal": 5e-324,
    "pi": 3.141592653589793,
    "empty": "",
    "unicode": "Zoë — naïve café 東京 🙂 עברית",
    "escapes": 'quote " backslash \\ newline \n tab \t nul \u0000 bell \u0007 sep \u2028',
    "html": "<b>&amp;</b>",
    "ключ": "значение",
    "🔑": "emoji key",
    "empty_list": [],
    "empty_object": {},
    "list": [1, "two", 3.5, None, True, False, [], {}],
    "nested": {"a": {"b": {"c": [1, {"d": [None, {"e": "deep", "f": [[[-1.5]]]}]}]}}},
}

WIRE_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{0,8}[1-9]))?Z")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def canon(value: Any) -> str:
    """Exact JSON text: tells true from 1 and 2.0 from 2, which == does not."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def ns(text: str) -> int:
    m = WIRE_TIME.fullmatch(text)
    assert m, f"not a wire timestamp: {text!r}"
    base = datetime.strptime(m[1], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return (base - EPOCH) // timedelta(seconds=1) * 10**9 + int((m[2] or "").ljust(9, "0"))


def wire_time(nanos: int) -> str:
    seconds, fraction = divmod(nanos, 10**9)
    digits = f"{fraction:09d}".rstrip("0")
    text = (EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{digits}" if digits else "") + "Z"


def plus_ms(text: str, ms: int) -> str:
    return wire_time(ns(text) + ms * 10**6)


def go_version(record: Dict[str, Any]) -> int:
    """The version of a record written by Go (no `version` field): its `updated_at` in µs."""
    return ns(record["updated_at"]) // 1000


def at_precision(record: Dict[str, Any], digits: int, version: int) -> Dict[str, Any]:
    """A Go record as a host sees it: timestamps cut to the host's precision, `version` added."""
    view = dict(record)
    for name in ("created_at", "updated_at", "last_accessed_at", "expires_at"):
        step = 10 ** (9 - digits)
        view[name] = wire_time(ns(record[name]) // step * step)
    view["version"] = version
    return view


def agree(backend: Any, *views: Dict[str, Any]) -> None:
    """Every view is exactly the stored record: same fields, same values, same order."""
    raw = backend.raw(views[0]["id"])
    assert raw is not None, f"no record stored for {views[0]['id']}"
    stored = json.loads(raw)
    for view in views:
        assert canon(view) == canon(stored)
        assert list(view) == list(stored)


@pytest.mark.parametrize("writer,reader", DIRECTIONS)
def test_lifecycle_across_languages(backend: Any, open_peer: Any, writer: str, reader: str) -> None:
    w = open_peer(writer, backend, site_id="shop")
    r = open_peer(reader, backend, site_id="shop")

    created = w("create", {"user_id": "alice", "data": {"cart": ["sku-1"], "gone": 1}, "ttl_ms": HOUR,
                           "ip_address": "192.0.2.1", "user_agent": "Mozilla/5.0 (X11; Zoë)",
                           "organization_id": "org-42"})
    sid = created["id"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", sid)
    t0 = created["created_at"]
    assert canon(created) == canon({
        "id": sid, "user_id": "alice", "site_id": "shop", "organization_id": "org-42",
        "data": {"cart": ["sku-1"], "gone": 1}, "created_at": t0, "updated_at": t0,
        "last_accessed_at": t0, "expires_at": plus_ms(t0, HOUR), "ip_address": "192.0.2.1",
        "user_agent": "Mozilla/5.0 (X11; Zoë)", "version": 1,
    })
    agree(backend, created, r("get", sid), w("get", sid))

    patched = r("patch", sid, {"set": {"theme": "dark", "cart": ["sku-1", "sku-2"]}, "unset": ["gone"],
                               "version": 1})
    assert "error" not in patched, patched
    assert ns(patched["updated_at"]) >= ns(t0)
    assert canon(patched) == canon({**created, "data": {"cart": ["sku-1", "sku-2"], "theme": "dark"},
                                    "updated_at": patched["updated_at"],
                                    "last_accessed_at": patched["updated_at"], "version": 2})
    assert w("patch", sid, {"set": {"x": 1}, "version": 1}) == CONFLICT
    agree(backend, patched, w("get", sid), r("get", sid))

    time.sleep(0.005)  # the clock has millisecond resolution: let the touch be seen to move
    touched = w("touch", sid)
    assert ns(touched["last_accessed_at"]) > ns(patched["last_accessed_at"])
    assert canon(touched) == canon({**patched, "last_accessed_at": touched["last_accessed_at"]})
    agree(backend, touched, r("get", sid))

    fields = {"id": sid, "user_id": "alice", "organization_id": "org-42", "ip_address": "192.0.2.1",
              "user_agent": "Mozilla/5.0 (X11; Zoë)"}
    updated = r("update", {**fields, "data": {"replaced": True}, "version": 2})
    assert "error" not in updated, updated
    assert canon(updated) == canon({**touched, "data": {"replaced": True}, "updated_at": updated["updated_at"],
                                    "last_accessed_at": updated["last_accessed_at"], "version": 3})
    assert w("update", {**fields, "data": {}, "version": 2}) == CONFLICT
    agree(backend, updated, w("get", sid))

    rotated = w("rotate", sid)
    new = rotated["id"]
    assert new != sid and re.fullmatch(r"[A-Za-z0-9_-]{43}", new)
    assert canon(rotated) == canon({**updated, "id": new, "updated_at": rotated["updated_at"],
                                    "last_accessed_at": rotated["last_accessed_at"], "version": 4})
    assert (r("get", sid), w("get", sid), backend.raw(sid)) == (None, None, None)
    agree(backend, rotated, r("get", new), w("get", new))
    assert canon(r("list_by_user_id", "alice")) == canon(w("list_by_user_id", "alice")) == canon([rotated])

    assert r("delete", new) is None
    assert (w("get", new), r("get", new), backend.raw(new)) == (None, None, None)
    assert (w("count"), r("count")) == (0, 0)


@pytest.mark.parametrize("writer,reader", DIRECTIONS)
def test_every_json_value_reads_back_identically(backend: Any, open_peer: Any, writer: str, reader: str) -> None:
    w, r = open_peer(writer, backend), open_peer(reader, backend)
    s = w("create", {"user_id": "dana", "data": DATA})
    assert canon(s["data"]) == canon(DATA)
    agree(backend, s, r("get", s["id"]))

    # The reader writes the same values back; the writer sees them exactly.
    p = r("patch", s["id"], {"set": {"copy": DATA, "again": DATA["nested"]}})
    assert canon(p["data"]) == canon({**DATA, "copy": DATA, "again": DATA["nested"]})
    agree(backend, p, w("get", s["id"]))


def test_whole_float_and_integer_user_id_read_the_same_everywhere(backend: Any, open_peer: Any) -> None:
    node, py = open_peer("node", backend), open_peer("python", backend)
    s = py("create", {"user_id": 42, "data": {"whole": 2.0, "half": 2.5}})
    assert canon(s["data"]) == canon({"half": 2.5, "whole": 2}) and s["user_id"] == "42"
    agree(backend, s, node("get", s["id"]))
    t = node("create", {"user_id": 42})
    assert t["user_id"] == "42"
    ids = sorted([s["id"], t["id"]])
    assert sorted(x["id"] for x in py("list_by_user_id", 42)) == ids
    assert sorted(x["id"] for x in node("list_by_user_id", "42")) == ids


@pytest.mark.parametrize("lang", ["node", "python"])
def test_whole_number_beyond_the_safe_range_is_refused_in_every_language(
        backend: Any, open_peer: Any, lang: str) -> None:
    # JSON writes these as integer literals (1e21 and up get an exponent), so they are integers
    # outside ±(2^53-1) whichever host type they started as.
    peer = open_peer(lang, backend)
    for value in (2.0**53, 2.0**60, 1e20, -1e20):
        refused = peer("create", {"user_id": "judy", "data": {"n": value}})
        assert refused == {"error": "SESSION_NOT_SERIALIZABLE"}, value
    assert canon(peer("create", {"user_id": "judy", "data": {"n": 1e21}})["data"]) == canon({"n": 1e21})


def test_per_user_limit_counts_sessions_of_both_languages(backend: Any, open_peer: Any) -> None:
    node = open_peer("node", backend, max_sessions_per_user=3)
    py = open_peer("python", backend, max_sessions_per_user=3)
    ids = []
    for peer in (node, node, py, py):
        ids.append(peer("create", {"user_id": "bob"})["id"])
        time.sleep(0.003)  # distinct created_at: the oldest goes first

    live = node("list_by_user_id", "bob")
    assert [s["id"] for s in live] == ids[1:]
    assert canon(py("list_by_user_id", "bob")) == canon(live)
    assert backend.raw(ids[0]) is None
    for peer in (node, py):
        assert peer("get", ids[0]) is None
        assert peer("count") == 3
        assert peer("patch", ids[0], {"set": {"x": 1}}) == NOT_FOUND
        assert peer("touch", ids[0]) == NOT_FOUND
        assert peer("create", {"user_id": "bob", "id": ids[0]}) == CONFLICT
    # The refused creates evicted nothing.
    assert canon(py("list_by_user_id", "bob")) == canon(live)

    fifth = py("create", {"user_id": "bob"})["id"]
    assert [s["id"] for s in node("list_by_user_id", "bob")] == ids[2:] + [fifth]
    assert node("get", ids[1]) is None and py("get", ids[1]) is None


@pytest.mark.parametrize("policy", ["reject", "oldest"])
def test_concurrent_creates_from_both_processes_never_over_admit(
        backend: Any, open_peer: Any, policy: str) -> None:
    node = open_peer("node", backend, max_sessions_per_user=3, eviction_policy=policy)
    py = open_peer("python", backend, max_sessions_per_user=3, eviction_policy=policy)
    burst = [["create", {"user_id": "erin"}]] * 8
    node.send("all", burst)
    py.send("all", burst)
    results = node.receive() + py.receive()

    made = [x["id"] for x in results if "id" in x]
    errors = [x["error"] for x in results if "error" in x]
    if policy == "reject":
        assert (len(made), errors) == (3, ["SESSION_LIMIT_EXCEEDED"] * 13)
    else:
        assert (len(made), errors) == (16, [])
    live = sorted(s["id"] for s in node("list_by_user_id", "erin"))
    assert len(live) == 3 and set(live) <= set(made)
    assert sorted(s["id"] for s in py("list_by_user_id", "erin")) == live
    assert (node("count"), py("count")) == (3, 3)
    for gone in set(made) - set(live):
        assert (node("get", gone), py("get", gone)) == (None, None)


@pytest.mark.parametrize("owner,foreign", DIRECTIONS)
def test_session_of_a_foreign_site_is_invisible(backend: Any, open_peer: Any, owner: str, foreign: str) -> None:
    mine = open_peer(owner, backend, site_id="shop")
    theirs = open_peer(foreign, backend, site_id="blog")
    same_site = open_peer(foreign, backend, site_id="shop")
    s = mine("create", {"user_id": "carol", "data": {"k": "v"}})
    sid = s["id"]

    assert theirs("get", sid) is None
    for op, args in [("patch", [sid, {"set": {"k": "x"}}]), ("touch", [sid]), ("rotate", [sid]),
                     ("update", [{"id": sid, "data": {"k": "x"}}])]:
        assert theirs(op, *args) == NOT_FOUND, op
    assert theirs("delete", sid) is None
    assert theirs("delete_by_user_id", "carol") == 0
    assert theirs("list_by_user_id", "carol") == []
    assert theirs("list", {}) == {"sessions": [], "cursor": None}
    assert (theirs("count"), theirs("clear")) == (0, 0)

    b = theirs("create", {"user_id": "carol"})
    assert b["site_id"] == "blog"
    assert mine("get", b["id"]) is None and same_site("get", b["id"]) is None
    assert [x["id"] for x in mine("list_by_user_id", "carol")] == [sid]
    # Untouched by all of the above, for both languages of its own site.
    agree(backend, s, mine("get", sid), same_site("get", sid))


@pytest.mark.parametrize("writer,reader", DIRECTIONS)
def test_deleted_and_rotated_ids_stay_dead_in_the_other_language(
        backend: Any, open_peer: Any, writer: str, reader: str) -> None:
    w, r = open_peer(writer, backend), open_peer(reader, backend)
    chosen = "caller-chosen_id-0123456789"
    assert w("create", {"user_id": "frank", "id": chosen})["id"] == chosen
    assert r("get", chosen)["id"] == chosen
    assert w("delete", chosen) is None
    old = w("create", {"user_id": "frank"})["id"]
    new = r("rotate", old)["id"]
    by_user = [w("create", {"user_id": "grace"})["id"] for _ in range(2)]
    assert r("delete_by_user_id", "grace") == 2

    for dead in [chosen, old, *by_user]:
        assert (r("get", dead), w("get", dead), backend.raw(dead)) == (None, None, None)
        for peer in (r, w):
            assert peer("create", {"user_id": "mallory", "id": dead}) == CONFLICT
            assert peer("patch", dead, {"set": {"k": 1}}) == NOT_FOUND
            assert peer("touch", dead) == NOT_FOUND
            assert peer("update", {"id": dead, "data": {}}) == NOT_FOUND
    # A live id is never overwritten either.
    assert w("create", {"user_id": "mallory", "id": new}) == CONFLICT
    assert r("get", new)["user_id"] == "frank"


def test_parallel_patches_from_both_languages_all_win(backend: Any, open_peer: Any) -> None:
    node, py = open_peer("node", backend), open_peer("python", backend)
    sid = node("create", {"user_id": "heidi", "data": {"base": 0}})["id"]
    n = 12
    node.send("all", [["patch", sid, {"set": {f"node{i}": i}}] for i in range(n)])
    py.send("all", [["patch", sid, {"set": {f"py{i}": i}}] for i in range(n)])
    results = node.receive() + py.receive()

    assert [x.get("error") for x in results] == [None] * 2 * n
    # Each patch was one atomic step: every version from 2 up was handed out exactly once.
    assert sorted(x["version"] for x in results) == list(range(2, 2 * n + 2))
    final = py("get", sid)
    expected = {"base": 0, **{f"node{i}": i for i in range(n)}, **{f"py{i}": i for i in range(n)}}
    assert canon(final["data"]) == canon(expected) and final["version"] == 2 * n + 1
    agree(backend, final, node("get", sid))


def test_touch_in_one_language_extends_idle_expiry_for_the_other(backend: Any, open_peer: Any) -> None:
    node = open_peer("node", backend, idle_timeout_ms=1500)
    py = open_peer("python", backend, idle_timeout_ms=1500)
    sid = node("create", {"user_id": "ivan"})["id"]
    time.sleep(1.0)
    assert py("touch", sid)["id"] == sid
    time.sleep(1.0)  # past the creation's idle expiry, within the touch's
    assert node("get", sid)["id"] == sid
    time.sleep(2.0)
    assert (node("get", sid), py("get", sid)) == (None, None)


def test_go_session_is_read_and_changed_by_node_and_python(
        redis_only: Any, open_peer: Any, go_program: Any) -> None:
    be = redis_only
    url, prefix = be.options["url"], be.options["key_prefix"]
    sid = json.loads(go_program("write", url, prefix, GO_USER))["id"]
    original = json.loads(go_program("read", url, prefix, sid))
    assert original["user_id"] == GO_USER
    assert canon(original["data"]) == canon({"from": "go", "html": "<b>&</b>", "n": 42})
    assert ns(original["expires_at"]) - ns(original["created_at"]) == HOUR * 10**6
    node, py = open_peer("node", be), open_peer("python", be)

    # Go has no version: it is derived from updated_at (µs); a host keeps a timestamp to its
    # precision: JS Date ms, datetime µs.
    v0 = go_version(original)
    assert canon(node("get", sid)) == canon(at_precision(original, 3, v0))
    assert canon(py("get", sid)) == canon(at_precision(original, 6, v0))

    assert node("patch", sid, {"set": {"from_node": True}})["version"] == v0 + 1
    patched = py("patch", sid, {"set": {"from_python": ["二", 1.5]}})
    assert patched["version"] == v0 + 2
    time.sleep(0.005)
    touched = node("touch", sid)
    seen = json.loads(go_program("read", url, prefix, sid))
    # Go's own instants come back to it to the nanosecond; ours are the core's (milliseconds).
    assert canon(seen) == canon({
        **original, "data": {**original["data"], "from_node": True, "from_python": ["二", 1.5]},
        "updated_at": patched["updated_at"], "last_accessed_at": touched["last_accessed_at"],
    })
    assert canon(node("get", sid)) == canon(at_precision(seen, 3, v0 + 2))
    assert canon(py("get", sid)) == canon(at_precision(seen, 6, v0 + 2))

    new = py("rotate", sid)["id"]
    assert be.raw(sid) is None and node("get", sid) is None
    rotated = json.loads(go_program("read", url, prefix, new))
    assert canon(rotated["data"]) == canon(seen["data"]) and rotated["created_at"] == original["created_at"]
    assert node("delete", new) is None
    assert be.raw(new) is None and py("get", new) is None


@pytest.mark.parametrize("lang", LANGS)
def test_go_reads_and_updates_sessions_of_node_and_python(
        redis_only: Any, open_peer: Any, go_program: Any, lang: str) -> None:
    be = redis_only
    url, prefix = be.options["url"], be.options["key_prefix"]
    writer = open_peer(lang, be)
    other = open_peer("python" if lang == "node" else "node", be)
    s = writer("create", {"user_id": GO_USER, "organization_id": GO_ORG, "data": DATA, "ttl_ms": HOUR,
                          "ip_address": "10.0.0.1", "user_agent": "curl/8 (Zoë)"})

    # Go decodes our record into omnistorage-core's struct and re-encodes the same bytes, less
    # `version`, which that struct does not have.
    raw = be.raw(s["id"])
    assert raw is not None
    text = go_program("read", url, prefix, s["id"])
    assert text == raw.decode().replace(',"version":1}', "}")
    assert canon(json.loads(text)) == canon({k: v for k, v in s.items() if k != "version"})

    go_program("update", url, prefix, s["id"], "theme", "dark")
    after = json.loads(go_program("read", url, prefix, s["id"]))
    assert canon(after) == canon({k: v for k, v in {**s, "data": {**DATA, "theme": "dark"},
                                                    "updated_at": after["updated_at"]}.items() if k != "version"})
    for peer, digits in ((writer, 3 if lang == "node" else 6), (other, 6 if lang == "node" else 3)):
        assert canon(peer("get", s["id"])) == canon(at_precision(after, digits, go_version(after)))
    # A version read before Go's write never matches after it (it is derived, never 0 again).
    assert other("patch", s["id"], {"set": {"back": lang}, "version": 1}) == {"error": "SESSION_CONFLICT"}
    assert other("patch", s["id"], {"set": {"back": lang}})["version"] == go_version(after) + 1
    assert json.loads(go_program("read", url, prefix, s["id"]))["data"]["back"] == lang


# omnistorage_compat: Go (omnistorage-core's own store), Node and Python share one user's sessions.
COMPAT = {"omnistorage_compat": True}


def user_ids(peer: Any) -> Set[str]:
    return {s["id"] for s in peer("list_by_user_id", GO_USER)}


@pytest.mark.parametrize("revoker", ["go", "node", "python"])
def test_sessions_of_one_user_from_go_node_and_python_are_listed_and_revoked_from_each(
        redis_only: Any, open_peer: Any, go_program: Any, revoker: str) -> None:
    be = redis_only
    url, prefix = be.options["url"], be.options["key_prefix"]
    node, py = open_peer("node", be, **COMPAT), open_peer("python", be, **COMPAT)
    made = {
        json.loads(go_program("write", url, prefix, GO_USER))["id"],
        node("create", {"user_id": GO_USER, "ttl_ms": HOUR})["id"],
        py("create", {"user_id": GO_USER, "ttl_ms": HOUR})["id"],
    }
    assert set(json.loads(go_program("list", url, prefix, GO_USER))) == made
    assert user_ids(node) == made and user_ids(py) == made
    if revoker == "go":
        assert json.loads(go_program("logout", url, prefix, GO_USER)) == 3
    else:
        assert {"node": node, "python": py}[revoker]("delete_by_user_id", GO_USER) == 3
    for sid in made:
        assert be.raw(sid) is None
        assert node("get", sid) is None and py("get", sid) is None
    assert json.loads(go_program("list", url, prefix, GO_USER)) == []
    assert user_ids(node) == set() and user_ids(py) == set()


def test_the_per_user_limit_counts_sessions_from_go_node_and_python(
        redis_only: Any, open_peer: Any, go_program: Any) -> None:
    be = redis_only
    url, prefix = be.options["url"], be.options["key_prefix"]
    limit = {**COMPAT, "max_sessions_per_user": 3, "eviction_policy": "reject"}
    node, py = open_peer("node", be, **limit), open_peer("python", be, **limit)
    first_go = json.loads(go_program("write", url, prefix, GO_USER))["id"]
    time.sleep(0.003)  # distinct created_at: the oldest goes first
    mine = {node("create", {"user_id": GO_USER})["id"], py("create", {"user_id": GO_USER})["id"]}
    assert node("create", {"user_id": GO_USER}) == {"error": "SESSION_LIMIT_EXCEEDED"}
    assert py("create", {"user_id": GO_USER}) == {"error": "SESSION_LIMIT_EXCEEDED"}
    # Go's own limit (its ControlledStore, listing through its index) counts ours too: its 4th
    # session evicts the oldest, its own first one.
    second_go = json.loads(go_program("write", url, prefix, GO_USER, env={"GO_MAX_PER_USER": "3"}))["id"]
    assert be.raw(first_go) is None
    assert user_ids(node) == mine | {second_go} == user_ids(py)


def test_ids_go_cannot_read_are_refused_in_compat_mode(redis_only: Any, open_peer: Any) -> None:
    be = redis_only
    for lang in LANGS:
        peer = open_peer(lang, be, **COMPAT, allow_anonymous=True)
        assert peer("create", {"user_id": "alice"}) == {"error": "SESSION_INVALID"}
        anon = peer("create", {})
        raw = be.raw(anon["id"])
        assert raw is not None and b'"user_id":"00000000-0000-0000-0000-000000000000"' in raw
        assert anon["user_id"] == ""
