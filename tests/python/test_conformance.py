"""The shared conformance vectors (tests/conformance/*.json, format in its README), run through
the Python API: AsyncStore and the blocking Store, on memory, SQLite and Redis."""

from __future__ import annotations

import asyncio
import json
import pathlib
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional, Tuple

import pytest

import omnisession
from omnisession import ManualClock, SessionError, hash_session_id

from conftest import BACKENDS, backend_options

VECTORS = pathlib.Path(__file__).resolve().parents[1] / "conformance"
# The codes that say the session has ended: every error met is checked against them.
GONE = set(json.loads((VECTORS / "error_codes.json").read_text())["gone_codes"])
START = datetime(2030, 1, 1, tzinfo=timezone.utc)
# The options that say where sessions live.
PLACES = ("backend", "path", "url", "urls", "cluster", "tls_ca", "tls_cert", "tls_key")
DURATIONS = {"default_ttl", "max_lifetime", "idle_timeout", "cleanup_interval", "tombstone_ttl", "wait_timeout"}


def lifetime(a: Dict[str, Any]) -> Dict[str, Any]:
    """A write's new expiry: ``ttl_ms`` as ``ttl``, ``expires_at`` (RFC 3339, null = never)."""
    if "ttl_ms" in a:
        return {"ttl": timedelta(milliseconds=a["ttl_ms"])}
    if "expires_at" in a:
        at = a["expires_at"]
        return {"expires_at": "never" if at is None else datetime.fromisoformat(at.replace("Z", "+00:00"))}
    return {}


def load_cases() -> List[Any]:
    params = []
    # cookies.json and adapters.json are the cookie modules' and the adapters' specs, with
    # runners of their own (test_cookie.py, test_adapters.py).
    skip = ("schema.json", "cookies.json", "adapters.json")
    files = sorted(p for p in VECTORS.glob("*.json") if p.name not in skip)
    assert files, f"no vectors in {VECTORS}"
    for path in files:
        doc = json.loads(path.read_text())
        for case in doc["cases"]:
            params.append(pytest.param(case, id=f"{path.stem}/{case['name']}"))
    return params


def py_options(options: Dict[str, Any]) -> Dict[str, Any]:
    """Vector options (durations in ms) as Python options (timedelta; other values as given)."""
    out = {}
    for key, value in options.items():
        if key in DURATIONS and type(value) is int and value >= 0:
            value = timedelta(milliseconds=value)
        elif key in DURATIONS and type(value) in (int, float):
            value = value / 1000  # seconds, as Python passes them
        out[key] = value
    return out


def wire_time(dt: Optional[datetime]) -> Optional[str]:
    if dt is None:
        return None
    assert dt.tzinfo is not None and dt.utcoffset() == timedelta(0), dt
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if dt.microsecond:
        text += ("." + f"{dt.microsecond:06d}").rstrip("0")
    return text + "Z"


def canonical(s: Dict[str, Any]) -> Dict[str, Any]:
    out = dict(s)
    for key in ("created_at", "updated_at", "last_accessed_at", "expires_at"):
        out[key] = wire_time(s[key])
    return out


def exact(want: Any, got: Any) -> bool:
    """JSON equality where an int never equals a float, nor a bool an int."""
    if type(want) is not type(got):
        return False
    if isinstance(want, list):
        return len(want) == len(got) and all(exact(w, g) for w, g in zip(want, got))
    if isinstance(want, dict):
        return want.keys() == got.keys() and all(exact(want[k], got[k]) for k in want)
    return bool(want == got)


def subset(want: Any, got: Any, at: str) -> None:
    if isinstance(want, dict):
        assert isinstance(got, dict), f"{at}: want {want}, got {got}"
        for k, w in want.items():
            assert k in got, f"{at}.{k} missing in {got}"
            subset(w, got[k], f"{at}.{k}")
    else:
        assert want == got, f"{at}: want {want!r}, got {got!r}"


def session_fields(want: Dict[str, Any], got: Dict[str, Any], at: str) -> None:
    for k, w in want.items():
        assert k in got, f"{at}.{k} missing"
        assert exact(w, got[k]), f"{at}.{k}: want {w!r}, got {got[k]!r}"


class Runner:
    def __init__(self, flavor: str, kind: str, tmp_path: Any, request: Any) -> None:
        self.flavor = flavor
        self.kind = kind
        self.base = backend_options(kind, tmp_path, request)
        self.clock = ManualClock(START)
        self.stores: List[Tuple[str, Any, List[Dict[str, Any]]]] = []
        self.bound: Dict[str, str] = {}

    async def call(self, store: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        result = getattr(store, method)(*args, **kwargs)
        if self.flavor == "async":
            return await result
        return result

    async def open(self, options: Dict[str, Any], seen: Optional[List[Any]] = None, alone: bool = False) -> Any:
        """`alone`: the options name their own backend (a case about a refused one), so the
        runner's backend is left out, as the Node runner does."""
        opts = {} if alone else dict(self.base)
        opts.update({"clock": self.clock, "cleanup_interval": timedelta(0)})
        opts.update(py_options(options))
        if seen is not None:
            opts["on_violation"] = seen.append
        if self.flavor == "async":
            return await omnisession.AsyncStore.open(**opts)
        return omnisession.Store.open(**opts)

    async def start(self, case: Dict[str, Any]) -> None:
        for name, spec in case.get("stores", {"main": {}}).items():
            seen: List[Dict[str, Any]] = []
            self.stores.append((name, await self.open(spec, seen), seen))

    def store(self, step: Dict[str, Any]) -> Tuple[str, Any, List[Dict[str, Any]]]:
        name = step.get("store")
        if name is None:
            return self.stores[0]
        return next(s for s in self.stores if s[0] == name)

    def resolve(self, v: Any) -> Any:
        if isinstance(v, str) and v.startswith("$") and v[1:] in self.bound:
            return self.bound[v[1:]]
        if isinstance(v, list):
            return [self.resolve(i) for i in v]
        if isinstance(v, dict):
            if "$repeat" in v and "times" in v:
                return v["$repeat"] * v["times"]
            return {k: self.resolve(x) for k, x in v.items()}
        return v

    async def flush(self) -> None:
        assert omnisession._native._flush_callbacks(5.0)
        for _ in range(3):
            await asyncio.sleep(0)

    async def op(self, store: Any, op: str, a: Dict[str, Any]) -> Any:
        c = self.call
        if op == "create":
            kwargs = {k: a[k] for k in ("data", "id", "ip_address", "user_agent", "organization_id") if k in a}
            kwargs.update(lifetime(a))
            return canonical(await c(store, "create", a.get("user_id"), **kwargs))
        if op == "get":
            s = await c(store, "get", a.get("id", ""))
            return None if s is None else canonical(s)
        if op in ("update", "upsert"):
            fields = {k: v for k, v in a.items() if k not in ("ttl_ms", "expires_at")}
            return canonical(await c(store, op, {"id": a.get("id", ""), **fields, **lifetime(a)}))
        if op == "patch":
            return canonical(await c(store, "patch", a.get("id", ""), a.get("set"), a.get("unset"),
                                     version=a.get("version"), user_id=a.get("user_id"), **lifetime(a)))
        if op == "touch":
            return canonical(await c(store, op, a.get("id", ""), **lifetime(a)))
        if op == "get_sliding":
            s = await c(store, op, a.get("id", ""), timedelta(milliseconds=a["rolling_ms"]))
            return None if s is None else canonical(s)
        if op == "login":
            kwargs = {k: a[k] for k in ("set", "unset") if k in a}
            return canonical(await c(store, "login", a.get("user_id", ""), from_id=a.get("from"),
                                     **kwargs, **lifetime(a)))
        if op == "rotate":
            return canonical(await c(store, op, a.get("id", "")))
        if op == "delete":
            return await c(store, "delete", a.get("id", ""))
        if op in ("delete_by_user_id",):
            return await c(store, op, a.get("user_id", ""))
        if op == "list_by_user_id":
            return [canonical(s) for s in await c(store, op, a.get("user_id", ""))]
        if op == "list":
            page = await c(store, "list", a.get("cursor"), a.get("limit"))
            return {"count": len(page["sessions"]), "has_more": page["cursor"] is not None}
        if op == "list_all":
            ids: List[str] = []
            cursor = None
            while True:
                page = await c(store, "list", cursor, a.get("limit"))
                ids.extend(s["id"] for s in page["sessions"])
                cursor = page["cursor"]
                if cursor is None:
                    return ids
        if op in ("count", "clear", "cleanup", "close"):
            return await c(store, op)
        raise AssertionError(f"unknown op {op}")

    def compare(self, op: str, want: Any, got: Any) -> None:
        if op == "list_by_user_id":
            if "ids" in want:
                assert [s["id"] for s in got] == want["ids"]
            if "sessions" in want:
                assert len(want["sessions"]) == len(got)
                for w, g in zip(want["sessions"], got):
                    session_fields(w, g, "session")
        elif op == "list_all":
            assert len(set(got)) == len(got), f"an id appeared twice: {got}"
            assert set(got) == set(want["ids"])
        elif op in ("create", "get", "get_sliding", "update", "upsert", "login", "patch", "touch",
                    "rotate") and isinstance(want, dict):
            assert isinstance(got, dict), f"want a session, got {got!r}"
            session_fields(want, got, "result")
        else:
            subset(want, got, "result")

    async def step(self, step: Dict[str, Any]) -> None:
        op = step["op"]
        args = self.resolve(step.get("args", {}))
        expect = self.resolve(step["expect"]) if "expect" in step else None
        if op == "advance":
            self.clock.advance(timedelta(milliseconds=args["ms"]))
            return
        if op == "violations":
            await self.flush()
            _, _, seen = self.store(step)
            got = list(seen)
            seen.clear()
            assert len(got) == len(expect), f"want {len(expect)} violations, got {got}"
            for w, g in zip(expect, got):
                w = dict(w)
                if "session" in w:
                    session = w.pop("session")
                    want_hash = None if session is None else hash_session_id(session)
                    assert g["session_id_hash"] == want_hash, f"violation session: {g}"
                subset(w, g, "violation")
            return
        if op == "open":
            names_backend = any(k in args["options"] for k in PLACES)
            try:
                store = await self.open(args["options"], alone="error" in step and names_backend)
            except SessionError as e:
                self.check_error(step, e)
                return
            await self.call(store, "close")
            assert "error" not in step, f"expected {step['error']}, opened"
            return
        _, store, _ = self.store(step)
        try:
            result = await self.op(store, op, args)
        except SessionError as e:
            self.check_error(step, e)
            return
        assert "error" not in step, f"expected {step['error']}, got {result!r}"
        if "bind" in step:
            self.bound[step["bind"]] = result["id"]
        if "expect" in step:
            self.compare(op, expect, result)

    def check_error(self, step: Dict[str, Any], e: SessionError) -> None:
        assert "error" in step, f"unexpected {e!r} {e.details}"
        assert e.code == step["error"], f"expected {step['error']}, got {e.code}: {e}"
        assert type(e) is omnisession.error_class(e.code)
        assert isinstance(e, omnisession.SessionGoneError) == (e.code in GONE), e.code
        subset(step.get("details", {}), e.details, "details")

    async def close(self) -> None:
        for _, store, _ in self.stores:
            await self.call(store, "close")


@pytest.mark.parametrize("flavor", ["async", "blocking"])
@pytest.mark.parametrize("kind", BACKENDS)
@pytest.mark.parametrize("case", load_cases())
async def test_vector(case: Dict[str, Any], kind: str, flavor: str, tmp_path: Any, request: Any) -> None:
    runner = Runner(flavor, kind, tmp_path, request)
    await runner.start(case)
    try:
        for i, step in enumerate(case["steps"]):
            try:
                await runner.step(step)
            except AssertionError as e:
                raise AssertionError(f"step {i} ({step['op']}): {e}") from None
    finally:
        await runner.close()
