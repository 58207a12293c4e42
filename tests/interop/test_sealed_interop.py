"""Sealed cookies across languages: a value sealed by Node's ``Sealer`` opens in Python's and the
reverse, with the same session to the millisecond (JS ``Date``'s precision), key rotation
across hosts ([B, A] in one, [A] or [B] in the other), the cookie name and the expiry bound in
both; and Python's seals of the Go-made vectors (tests/conformance/sealed/vectors.json) decrypt,
with Node's own AES-GCM (node:crypto, not the core), to the vectors' exact payload bytes.

Node runs as a process per batch (``node --input-type=module``, from the repo root so that
``omnisession`` resolves to the npm package); Python is this process's ``omnisession``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from omnisession import Sealer

ROOT = Path(__file__).resolve().parents[2]
VECTORS = json.loads((ROOT / "tests" / "conformance" / "sealed" / "vectors.json").read_text())["v1"]

KEY_A = ("A", bytes(range(32)))
KEY_B = ("B", bytes(range(64, 96)))
Key = Tuple[str, bytes]

# One batch of operations per Node process: seal, open, and an AES-GCM decryption with
# node:crypto (independent of the core) giving the payload bytes.
NODE = r"""
import { Sealer } from 'omnisession'
import { createDecipheriv } from 'node:crypto'

let input = ''
for await (const chunk of process.stdin) input += chunk
const key = (hex) => Uint8Array.from(Buffer.from(hex, 'hex'))
const date = (text) => (text === null ? null : new Date(text))
const iso = (d) => (d === null ? null : d.toISOString())
const sealer = (o) => new Sealer({ keys: o.keys.map(([id, k]) => ({ id, key: key(k) })), cookieName: o.cookie })

function decrypt({ key: hex, cookie, value }) {
  const [version, id, body] = value.split('.')
  const raw = Buffer.from(body, 'base64url')
  const decipher = createDecipheriv('aes-256-gcm', Buffer.from(hex, 'hex'), raw.subarray(0, 12))
  decipher.setAAD(Buffer.concat([Buffer.from(`omnisession-sealed-${version}\0${id}\0${cookie}`, 'utf8')]))
  decipher.setAuthTag(raw.subarray(raw.length - 16))
  return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8')
}

function run(o) {
  try {
    if (o.op === 'seal') {
      const s = o.session
      return { value: sealer(o).seal({ userId: s.user_id, data: s.data, createdAt: date(s.created_at),
                                        expiresAt: date(s.expires_at) }) }
    }
    if (o.op === 'open') {
      const r = o.now === null ? sealer(o).open(o.value) : sealer(o).open(o.value, date(o.now))
      if (r.session === null) return { session: null, reason: r.reason }
      const s = r.session
      return { session: { user_id: s.userId, data: s.data, created_at: iso(s.createdAt),
                          expires_at: iso(s.expiresAt) }, reason: null }
    }
    if (o.op === 'decrypt') return { payload: decrypt(o) }
    return { error: `unknown op ${o.op}` }
  } catch (err) {
    return { error: err.code ?? `${err.name}: ${err.message}` }
  }
}

console.log(JSON.stringify(JSON.parse(input).map(run)))
"""


def node(ops: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    if shutil.which("node") is None:
        pytest.fail("node is needed for the interop suite (install Node.js 20+, then `make node`)")
    out = subprocess.run(["node", "--input-type=module", "-e", NODE], input=json.dumps(ops), cwd=ROOT,
                         capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert out.returncode == 0, out.stderr
    results: List[Dict[str, Any]] = json.loads(out.stdout)
    assert all("error" not in r for r in results), results
    return results


def ring(*keys: Key) -> List[List[str]]:
    return [[i, k.hex()] for i, k in keys]


def iso(at: Optional[datetime]) -> Optional[str]:
    """JS ``Date.toISOString``: milliseconds, always three digits."""
    if at is None:
        return None
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def parse(text: Optional[str]) -> Optional[datetime]:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


def canon(value: Any) -> str:
    """Exact JSON text: tells true from 1 and 2.0 from 2, which == does not."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def py_open(keys: List[Key], cookie: str, value: str, now: Optional[datetime] = None) -> Dict[str, Any]:
    """Python's open, in the form the Node batch reports."""
    r = Sealer(keys, cookie).open(value, now)
    s = r["session"]
    if s is None:
        return {"session": None, "reason": r["reason"]}
    return {"session": {"user_id": s["user_id"], "data": s["data"], "created_at": iso(s["created_at"]),
                        "expires_at": iso(s["expires_at"])}, "reason": None}


def py_seal(keys: List[Key], cookie: str, s: Dict[str, Any]) -> str:
    return Sealer(keys, cookie).seal(s["user_id"], data=s["data"], created_at=parse(s["created_at"]),
                                     expires_at=parse(s["expires_at"]))


# Every JSON value type at its edges (as in test_polyglot.py), unicode users, an int user.
DATA: Dict[str, Any] = {
    "null": None, "yes": True, "no": False, "zero": 0, "negative": -17, "max_safe": 2**53 - 1,
    "min_safe": -(2**53 - 1), "tenth": 0.1, "small": -2.5e-7, "subnormal": 5e-324, "pi": 3.141592653589793,
    "empty": "", "unicode": "Zoë — naïve café 東京 🙂 עברית",
    "escapes": 'quote " backslash \\ newline \n tab \t nul \u0000 bell \u0007 sep \u2028',
    "html": "<b>&amp;</b>", "ключ": "значение", "🔑": "emoji key", "empty_list": [], "empty_object": {},
    "list": [1, "two", 3.5, None, True, False, [], {}],
    "nested": {"a": {"b": {"c": [1, {"d": [None, {"e": "deep", "f": [[[-1.5]]]}]}]}}},
}
SESSIONS: List[Dict[str, Any]] = [
    {"user_id": None, "data": {}, "created_at": "2024-05-01T10:00:00.000Z", "expires_at": None},
    {"user_id": "alice", "data": DATA, "created_at": "2024-05-01T10:00:00.123Z",
     "expires_at": "2099-05-01T11:00:00.999Z"},
    {"user_id": "émilie 🙂", "data": {"cart": [1, 2.5, "<x>"]}, "created_at": "2024-05-01T10:00:00.001Z",
     "expires_at": "2099-01-01T00:00:00.000Z"},
]
NOW = "2024-06-01T00:00:00.000Z"


def test_sealed_in_node_opens_in_python_and_the_reverse() -> None:
    # Node seals each session; Node and Python open Node's values.
    sealed = node([{"op": "seal", "keys": ring(KEY_A), "cookie": "sid", "session": s} for s in SESSIONS])
    from_node = [r["value"] for r in sealed]
    for value in from_node:
        assert value.startswith("v1.A.")
    python_sealed = [py_seal([KEY_A], "sid", s) for s in SESSIONS]
    opened = node([{"op": "open", "keys": ring(KEY_A), "cookie": "sid", "value": v, "now": NOW}
                   for v in from_node + python_sealed])
    for i, s in enumerate(SESSIONS):
        want = {"session": s, "reason": None}
        in_python = py_open([KEY_A], "sid", from_node[i], parse(NOW))
        assert canon(in_python) == canon(want), s["user_id"]
        assert canon(opened[i]) == canon(want)  # Node opens its own the same way
        assert canon(opened[len(SESSIONS) + i]) == canon(want)  # and Python's
        assert canon(py_open([KEY_A], "sid", python_sealed[i], parse(NOW))) == canon(want)
    # An int user id is its decimal string in both.
    value = node([{"op": "seal", "keys": ring(KEY_A), "cookie": "sid",
                   "session": {**SESSIONS[0], "user_id": 42}}])[0]["value"]
    assert py_open([KEY_A], "sid", value)["session"]["user_id"] == "42"
    int_user = Sealer([KEY_A], "sid").seal(42, data={})
    assert node([{"op": "open", "keys": ring(KEY_A), "cookie": "sid", "value": int_user, "now": None}])[0][
        "session"]["user_id"] == "42"


@pytest.mark.parametrize("first, second", [("node", "python"), ("python", "node")],
                         ids=["node-seals-python-rotates", "python-seals-node-rotates"])
def test_key_rotation_across_hosts(first: str, second: str) -> None:
    """One host seals with [A]; the other, rotated to [B, A], opens it and seals with B; the
    first, still on [A], cannot open B's value; on [B] alone, A's value is gone."""
    session = SESSIONS[2]

    def seal(host: str, keys: List[Key]) -> str:
        if host == "python":
            return py_seal(keys, "sid", session)
        return str(node([{"op": "seal", "keys": ring(*keys), "cookie": "sid", "session": session}])[0]["value"])

    def open_(host: str, keys: List[Key], value: str) -> Dict[str, Any]:
        if host == "python":
            return py_open(keys, "sid", value, parse(NOW))
        return node([{"op": "open", "keys": ring(*keys), "cookie": "sid", "value": value, "now": NOW}])[0]

    want = canon({"session": session, "reason": None})
    a_value = seal(first, [KEY_A])
    assert a_value.startswith("v1.A.")
    assert canon(open_(second, [KEY_B, KEY_A], a_value)) == want  # the old value opens after rotation
    b_value = seal(second, [KEY_B, KEY_A])  # and the next write seals with B
    assert b_value.startswith("v1.B.")
    assert open_(first, [KEY_A], b_value) == {"session": None, "reason": "tampered"}  # not yet rotated there
    assert canon(open_(first, [KEY_A, KEY_B], b_value)) == want
    assert canon(open_(first, [KEY_B], b_value)) == want
    assert open_(second, [KEY_B], a_value) == {"session": None, "reason": "tampered"}  # A retired
    assert open_(first, [KEY_B], a_value) == {"session": None, "reason": "tampered"}


@pytest.mark.parametrize("sealer_host", ["node", "python"])
def test_cookie_name_and_expiry_are_bound_in_both(sealer_host: str) -> None:
    session = {**SESSIONS[0], "expires_at": "2024-05-01T11:00:00.000Z"}
    if sealer_host == "node":
        value = node([{"op": "seal", "keys": ring(KEY_A), "cookie": "sid", "session": session}])[0]["value"]
    else:
        value = py_seal([KEY_A], "sid", session)
    at_expiry, after = "2024-05-01T11:00:00.000Z", "2024-05-01T11:00:00.001Z"
    in_node = node([{"op": "open", "keys": ring(KEY_A), "cookie": c, "value": value, "now": t}
                    for c, t in [("sid", at_expiry), ("sid", after), ("other", at_expiry)]])
    in_python = [py_open([KEY_A], c, value, parse(t))
                 for c, t in [("sid", at_expiry), ("sid", after), ("other", at_expiry)]]
    for results in (in_node, in_python):
        assert canon(results[0]) == canon({"session": session, "reason": None})  # live at expires_at
        assert results[1] == {"session": None, "reason": "expired"}
        assert results[2] == {"session": None, "reason": "tampered"}


def _micros(text: str) -> str:
    """A vector's timestamp as Python seals it: truncated to microseconds, trailing zeros trimmed."""
    base, dot, fraction = text[:-1].partition(".")
    digits = fraction[:6].rstrip("0")
    return base + (f".{digits}" if digits else "") + "Z"


def _vector_datetime(text: Optional[str]) -> Optional[datetime]:
    return None if text is None else datetime.fromisoformat(_micros(text).replace("Z", "+00:00"))


@pytest.mark.parametrize("case", VECTORS["seal"], ids=[c["name"] for c in VECTORS["seal"]])
def test_python_seals_the_go_vectors_exactly(case: Dict[str, Any]) -> None:
    """The Go-made vectors fix the nonce, which no host may choose (the core's test-only
    seal_with_nonce); so Python seals the vector's session with a fresh nonce, and node:crypto
    decrypts it under the vector's key and associated data: the payload must be the vector's,
    byte for byte, with its timestamps at datetime's microseconds (tests/node/sealed.test.mjs
    checks Node's seals the same way)."""
    key_id, key_hex, name = case["key"], VECTORS["keys"][case["key"]], VECTORS["cookie_name"]
    s = case["session"]
    python_value = Sealer([(key_id, bytes.fromhex(key_hex))], name, VECTORS["max_cookie_bytes"]).seal(
        s["user_id"], data=s["data"], created_at=_vector_datetime(s["created_at"]),
        expires_at=_vector_datetime(s["expires_at"]))
    payload = case["payload"]
    python_payload = payload
    for stamp in (s["created_at"], s["expires_at"]):
        if stamp is not None:
            python_payload = python_payload.replace(f'"{stamp}"', f'"{_micros(stamp)}"')
    results = node([
        {"op": "decrypt", "key": key_hex, "cookie": name, "value": python_value},
        {"op": "decrypt", "key": key_hex, "cookie": name, "value": case["value"]},
    ])
    assert python_value.startswith(f"v1.{key_id}.")
    assert results[0]["payload"] == python_payload
    assert results[1]["payload"] == payload  # the decryption itself, checked on Go's own value
