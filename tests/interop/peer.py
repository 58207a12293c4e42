"""A Python service for the interop suite (the same protocol as peer.mjs).

argv[1]: store options as JSON, snake_case, durations as ``*_ms``. Then one operation per stdin
line, ``[op, ...args]``; one JSON line back for each: sessions in the wire form, errors as
``{"error": code}``. ``["all", [op, ...]]`` runs its operations concurrently (threads: the blocking
``Store`` releases the GIL) and answers with the list of results.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, Dict, List, Optional

from omnisession import SessionError, Store

ZERO_TIME = "0001-01-01T00:00:00Z"


def durations(options: Dict[str, Any]) -> Dict[str, Any]:
    out = {}
    for key, value in options.items():
        if key.endswith("_ms"):
            key, value = key[:-3], None if value is None else timedelta(milliseconds=value)
        out[key] = value
    return out


def stamp(at: Optional[datetime]) -> str:
    if at is None:
        return ZERO_TIME
    # A naive or non-UTC datetime would break the contract: fail rather than convert it.
    if at.utcoffset() != timedelta(0):
        raise TypeError(f"a timestamp is not UTC: {at!r}")
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".") + "Z"


def wire(s: Dict[str, Any]) -> Dict[str, Any]:
    """The record as the core writes it: same names, order and omissions."""
    w: Dict[str, Any] = {"id": s["id"], "user_id": s["user_id"] or ""}
    if s["site_id"] != "":
        w["site_id"] = s["site_id"]
    if s["organization_id"] is not None:
        w["organization_id"] = s["organization_id"]
    if s["data"]:
        w["data"] = s["data"]
    for name in ("created_at", "updated_at", "last_accessed_at", "expires_at"):
        w[name] = stamp(s[name])
    for name in ("ip_address", "user_agent"):
        if s[name] != "":
            w[name] = s[name]
    w["version"] = s["version"]
    return w


def output(value: Any) -> Any:
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, list):
        return [wire(s) for s in value]
    if "sessions" in value:
        return {"sessions": [wire(s) for s in value["sessions"]], "cursor": value["cursor"]}
    return wire(value)


def call(store: Store, op: str, *args: Any) -> Any:
    if op == "create":
        spec = durations(args[0])
        return store.create(spec.pop("user_id", None), **spec)
    if op == "patch":
        return store.patch(args[0], args[1].get("set"), args[1].get("unset"), version=args[1].get("version"))
    if op == "list":
        return store.list(args[0].get("cursor"), args[0].get("limit"))
    return getattr(store, op)(*args)


def answer(store: Store, pool: ThreadPoolExecutor, request: List[Any]) -> Any:
    try:
        if request[0] == "all":
            return list(pool.map(lambda each: answer(store, pool, each), request[1]))
        return output(call(store, *request))
    except SessionError as exc:
        return {"error": exc.code}
    except Exception as exc:  # reported, so that the driver's assertion shows it
        return {"error": f"{type(exc).__name__}: {exc}"}


def main() -> int:
    try:
        store = Store.open(**durations(json.loads(sys.argv[1])))
    except SessionError as exc:
        print(json.dumps({"error": exc.code}), flush=True)
        return 1
    print(json.dumps({"ready": True}), flush=True)
    # Nested "all" requests never occur, so one pool's threads are never all waiting on it.
    with store, ThreadPoolExecutor(max_workers=16) as pool:
        for line in sys.stdin:
            print(json.dumps(answer(store, pool, json.loads(line))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
