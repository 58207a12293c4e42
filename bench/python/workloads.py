"""The per-operation matrix for Python asyncio stores (see bench/node/workloads.mjs).

    python workloads.py --redis URL --tmp DIR --out FILE [--n 10000]
"""

import argparse
import json
import sys

from measure import loop_name, measure, payload, run
from stores import Omni, RawRedis, Sqlite3, Starsessions, redis_client

IMPLS = [
    ("omnisession", "memory", Omni),
    ("omnisession", "sqlite", Omni),
    ("sqlite3 store", "sqlite", Sqlite3),
    ("omnisession", "redis", Omni),
    ("redis-py raw", "redis", RawRedis),
    ("starsessions RedisStore", "redis", Starsessions),
]


async def main(a: argparse.Namespace) -> None:
    n, results = a.n, []
    warmup = max(5, n // 20)
    consume = max(5, (n - 2 * warmup) // 2)
    flusher, loop = redis_client(a.redis), loop_name()
    for impl, backend, cls in IMPLS:
        for size in map(int, a.sizes.split(",")):
            tag = f"{impl}-{backend}-{size}".replace(" ", "_")
            store = await cls.open(backend, {"redis_url": a.redis, "tmp": a.tmp, "tag": tag})
            for in_flight in map(int, a.inflight.split(",")):
                def row(op, r):
                    results.append({"runner": "python", "impl": impl, "backend": backend, "op": op,
                                    "size": size, "in_flight": in_flight, "loop": loop, **r})
                pool = [None] * (n + warmup)

                async def create(i):
                    pool[i] = await store.create(i, payload(size, i))
                row("create", await measure(create, n + warmup, in_flight))

                async def get(i):
                    if await store.get(pool[i % len(pool)]["id"]) is None:
                        raise RuntimeError(f"{impl}: lost a session")
                row("get", await measure(get, n, in_flight, warmup))
                row("save", await measure(lambda i: store.save(pool[i % len(pool)]["id"], i), n, in_flight, warmup))
                if hasattr(store, "touch"):
                    row("touch", await measure(lambda i: store.touch(pool[i % len(pool)]["id"]), n, in_flight, warmup))
                else:
                    row("touch", {"missing": "no touch in this store API"})
                rotating = pool[: consume + warmup]
                deleting = pool[consume + warmup : 2 * (consume + warmup)]
                if hasattr(store, "rotate"):
                    row("rotate", await measure(lambda i: store.rotate(rotating[i]["id"]), consume, in_flight, warmup))
                else:
                    row("rotate", {"missing": "no rotate in this store API"})
                if hasattr(store, "delete_by_user_id"):
                    row("deleteByUserId", await measure(lambda i: store.delete_by_user_id(deleting[i]["user"]), consume, in_flight, warmup))
                else:
                    row("deleteByUserId", {"missing": "no per-user index in this store"})
                print(f"python {impl}/{backend} {size}B x{in_flight} done", file=sys.stderr)
            await store.close()
            await flusher.flushdb()
    await flusher.aclose()
    with open(a.out, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--redis", required=True)
    p.add_argument("--tmp", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--sizes", default="1024,16384")
    p.add_argument("--inflight", default="1,64")
    run(main(p.parse_args()))
