"""Django session engines side by side: omnisession.django (SQLite and Redis) against Django's
own `db` engine on SQLite and `cache` engine on Redis, each in its fastest supported
configuration: the database in WAL mode with synchronous=NORMAL (Django 5.1+'s SQLite
`init_command` option, run on every new connection), the cache on Django's RedisCache with
redis-py's hiredis parser (its `parser_class` option). Each op is what one request does through
SessionStore: load, load + change + save, create, cycle_key. Django is synchronous, so one
operation is in flight.

    python django_bench.py --redis URL --tmp DIR --out FILE [--n 2000]
"""

import argparse
import json
import os
import sys
from importlib import import_module

import django
from django.conf import settings

from measure import measure_sync, payload

ENGINES = [
    ("omnisession.django", "sqlite", "omnisession.django"),
    ("Django db engine", "sqlite", "django.contrib.sessions.backends.db"),
    ("omnisession.django", "redis", "omnisession.django"),
    ("Django cache engine", "redis", "django.contrib.sessions.backends.cache"),
]


# Django's own engines, set up as fast as Django supports them.
SQLITE_INIT = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL"
HIREDIS_PARSER = "redis._parsers.hiredis._HiredisParser"


def configure(a: argparse.Namespace, backend: str) -> None:
    settings.configure(
        SECRET_KEY="bench",
        INSTALLED_APPS=["django.contrib.sessions"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(a.tmp, "django.db"),
                               "OPTIONS": {"init_command": SQLITE_INIT}}},
        CACHES={"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": a.redis,
                            "OPTIONS": {"parser_class": HIREDIS_PARSER}}},
        OMNISESSION=(
            {"backend": "sqlite", "path": os.path.join(a.tmp, "django-omni.db"), "cleanup_interval": 0}
            if backend == "sqlite"
            else {"backend": "redis", "url": a.redis, "key_prefix": "djomni:", "cleanup_interval": 0}
        ),
        USE_TZ=True,
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    check_fastest()


def check_fastest() -> None:
    """Fails the run if Django's engines would not run as configured above."""
    from django.core.cache import cache
    from django.db import connection

    with connection.cursor() as c:
        mode = c.execute("PRAGMA journal_mode").fetchone()[0]
        sync = c.execute("PRAGMA synchronous").fetchone()[0]
    if (mode, sync) != ("wal", 1):
        raise SystemExit(f"Django's SQLite connection runs journal_mode={mode}, synchronous={sync}: expected wal, 1")
    parser = cache._cache._pool_options["parser_class"]
    if "Hiredis" not in parser.__name__:
        raise SystemExit(f"Django's RedisCache parses with {parser.__name__}: pip install -r bench/requirements.txt")


def run(a: argparse.Namespace, impl: str, backend: str, engine: str) -> list:
    SessionStore = import_module(engine).SessionStore
    n, out = a.n, []
    warmup = max(5, n // 20)
    for size in map(int, a.sizes.split(",")):
        row = lambda op, r: out.append({"runner": "django", "impl": impl, "backend": backend, "op": op,  # noqa: E731
                                        "size": size, "in_flight": 1, **r})
        keys = [None] * (n + warmup)

        def create(i):
            s = SessionStore()
            s.update(payload(size, i))
            s.create()
            keys[i] = s.session_key

        row("create", measure_sync(create, n + warmup))

        def get(i):
            if not SessionStore(keys[i % len(keys)]).load():
                raise RuntimeError(f"{impl}: lost a session")

        row("get", measure_sync(get, n, warmup))

        def save(i):
            s = SessionStore(keys[i % len(keys)])
            s["counter"] = i
            s.save()

        row("save", measure_sync(save, n, warmup))
        row("touch", {"missing": "Django sessions have no touch"})
        half = (n + warmup) // 2
        rotating = keys[:half]

        def rotate(i):
            s = SessionStore(rotating[i])
            s.load()
            s.cycle_key()

        row("rotate", measure_sync(rotate, half - warmup, warmup))
        row("deleteByUserId", {"missing": "Django's engines have no per-user index"})
        print(f"django {impl}/{backend} {size}B done", file=sys.stderr)
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--redis", required=True)
    p.add_argument("--tmp", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--sizes", default="1024,16384")
    # settings.configure runs once per process: the driver runs one backend per process.
    p.add_argument("--backend", choices=["sqlite", "redis"], required=True)
    a = p.parse_args()
    configure(a, a.backend)
    results = []
    for impl, backend, engine in ENGINES:
        if backend == a.backend:
            results += run(a, impl, backend, engine)
    with open(a.out, "w") as f:
        json.dump(results, f, indent=1)
