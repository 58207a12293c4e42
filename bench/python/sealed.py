"""Sealed cookie sessions in Django, head to head (see bench/node/sealed.mjs): one request's work
on a session kept in the cookie, each side in turn (A, B, A, B, …) in one process, and a target
reads the median of the per-round ratios.

- `django sealed engine`: `omnisession.django_cookies` against Django's own
  `django.contrib.sessions.backends.signed_cookies`, through the engine API as Django's
  `SessionMiddleware` drives it: a `SessionStore` built from the value the request brought, a
  read (the load), a key set, `save()`, and `session_key`, the value the response sets.
- `python sealed raw`: the calls under each engine, without Django's session object:
  `omnisession.Sealer.open` + `seal` against `django.core.signing.loads` + `dumps` with the
  arguments signed_cookies passes (its salt, `JSONSerializer`, `compress=True`, `max_age`).

The value a request seals goes back into its pool slot, which the next request to that slot
opens. Django is synchronous: one request at a time.

    python sealed.py --out FILE [--n 5000] [--rounds 5] [--pool 1000] [--sizes 256,2048]
"""

import argparse
import json
import os
import secrets
import statistics
import sys
from datetime import timedelta
from importlib import import_module

import django
from django.conf import settings

from measure import measure_sync, token_payload

COOKIE = "sessionid"  # Django's SESSION_COOKIE_NAME
MAX_COOKIE = 4096  # name=value, what every browser keeps
AGE = 1209600  # SESSION_COOKIE_AGE, Django's default (two weeks)
SALT = "django.contrib.sessions.backends.signed_cookies"
OMNI_ENGINE, DJANGO_ENGINE = "omnisession.django_cookies", "django.contrib.sessions.backends.signed_cookies"


def configure() -> None:
    # Django's defaults for everything a session touches: the JSON serializer (the only one
    # Django 5 ships), HMAC-SHA256 signing, no SECRET_KEY_FALLBACKS.
    settings.configure(
        SECRET_KEY=secrets.token_urlsafe(50),
        INSTALLED_APPS=["django.contrib.sessions"],
        OMNISESSION_SEALED={"keys": [("bench", os.urandom(32))]},
        USE_TZ=True,
    )
    django.setup()


def engine_side(impl: str, engine: str, size: int, pool_size: int) -> dict:
    SessionStore = import_module(engine).SessionStore
    pool = []
    for i in range(pool_size):
        s = SessionStore()
        s.update(token_payload(size, i))
        s["_auth_user_id"] = f"u-{i}"  # a logged-in session, as django.contrib.auth keeps it
        s.save()
        pool.append(s.session_key)

    def request(i: int) -> None:
        k = i % len(pool)
        s = SessionStore(pool[k])
        if "user" not in s:  # the load
            raise RuntimeError(f"{impl}: a value did not open")
        s["counter"] = i
        s.save()
        pool[k] = s.session_key

    return {"impl": impl, "api": f"{engine}.SessionStore", "pool": pool, "op": request}


def raw_sides(size: int, pool_size: int) -> list:
    from django.core import signing
    from django.utils import timezone
    from omnisession import Sealer

    sealer = Sealer([("bench", os.urandom(32))], COOKIE)
    expires = timezone.now() + timedelta(seconds=AGE)
    omni_pool = [sealer.seal(f"u-{i}", data=token_payload(size, i), expires_at=expires) for i in range(pool_size)]

    def omni(i: int) -> None:
        k = i % len(omni_pool)
        session = sealer.open(omni_pool[k])["session"]
        if session is None:
            raise RuntimeError("omnisession: a value did not open")
        session["data"]["counter"] = i
        omni_pool[k] = sealer.seal(session["user_id"], data=session["data"], created_at=session["created_at"],
                                   expires_at=session["expires_at"])

    def dumps(data: dict) -> str:
        return signing.dumps(data, compress=True, salt=SALT, serializer=signing.JSONSerializer)

    django_pool = [dumps({**token_payload(size, i), "_auth_user_id": f"u-{i}"}) for i in range(pool_size)]

    def django_raw(i: int) -> None:
        k = i % len(django_pool)
        data = signing.loads(django_pool[k], salt=SALT, serializer=signing.JSONSerializer, max_age=AGE)
        data["counter"] = i
        django_pool[k] = dumps(data)

    return [
        {"impl": "omnisession", "api": "omnisession.Sealer.open + seal", "pool": omni_pool, "op": omni},
        {"impl": "django.core.signing", "api": "signing.loads + signing.dumps(compress=True)", "pool": django_pool,
         "op": django_raw},
    ]


def run_pair(pair: str, sides: list, size: int, a: argparse.Namespace) -> list:
    for s in sides:
        longest = max(len(f"{COOKIE}={v}") for v in s["pool"])
        if longest > MAX_COOKIE:
            raise SystemExit(f"{s['impl']}: a {size} B session makes a cookie of {longest} bytes (> {MAX_COOKIE})")
        s["runs"] = []
    for _ in range(a.rounds):
        for s in sides:
            s["runs"].append(measure_sync(s["op"], a.n, max(5, a.n // 20)))
    out = []
    for s in sides:
        runs = s["runs"]
        of = lambda field: statistics.median_high(r[field] for r in runs)  # noqa: E731
        out.append({
            "runner": "pairs", "pair": pair, "impl": s["impl"], "api": s["api"], "backend": "cookie", "op": "open+seal",
            "size": size, "in_flight": 1, "n": a.n, "cookie_bytes": max(len(f"{COOKIE}={v}") for v in s["pool"]),
            "rounds": [r["ops_per_s"] for r in runs], "p50_rounds": [r["p50_us"] for r in runs],
            "p99_rounds": [r["p99_us"] for r in runs],
            "ops_per_s": of("ops_per_s"), "p50_us": of("p50_us"), "p99_us": of("p99_us"),
        })
    a_runs, b_runs = ([r["ops_per_s"] for r in s["runs"]] for s in sides)
    ratio = statistics.median(x / y for x, y in zip(a_runs, b_runs))
    summary = ", ".join(f"{r['impl']} {r['ops_per_s'] / 1000:.1f} k" for r in out)
    print(f"{pair} {size}B: {summary} ops/s; ratio {ratio:.2f} (median of {a.rounds} rounds)", file=sys.stderr)
    return out


def main(a: argparse.Namespace) -> None:
    configure()
    from omnisession.django_cookies import get_sealer

    get_sealer()  # built once, from OMNISESSION_SEALED, as the middleware does at server start
    results = []
    for size in map(int, a.sizes.split(",")):
        engines = [engine_side("omnisession", OMNI_ENGINE, size, a.pool),
                   engine_side("Django signed_cookies", DJANGO_ENGINE, size, a.pool)]
        results += run_pair("django sealed engine", engines, size, a)
        results += run_pair("python sealed raw", raw_sides(size, a.pool), size, a)
    with open(a.out, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=5000, help="requests per side per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--pool", type=int, default=1000, help="cookie values per side")
    p.add_argument("--sizes", default="256,2048")
    main(p.parse_args())
