"""The cells the Python asyncio targets divide, head to head (see bench/node/pairs.mjs): the sides
of a pair take turns (A, B, A, B, …) in one process and one uvloop loop, and a target reads the
median of the per-round ratios.

Redis get and save against starsessions' RedisStore, touch against redis-py's EXPIRE (starsessions
has no touch), get against redis-py raw GET + json.loads at 64 in flight; SQLite get and save
against the stdlib sqlite3 store on its worker thread. Each at 1 and 64 in flight, 1 KiB and
16 KiB. A request cycle on Redis (get then touch against redis-py GET + json.loads + EXPIRE, get
then save against starsessions' read + write), shown beside them.

    python pairs.py --redis URL --tmp DIR --out FILE [--n 5000] [--n1 1500] [--rounds 5] [--pool 5000]
                    [--only 'redis get,sqlite'] [--sizes 1024,16384] [--inflight 1,64]
"""

import argparse
import asyncio
import json
import statistics
import sys
from typing import Any, Dict, List

from measure import loop_name, measure, payload, run
from stores import Omni, RawRedis, Sqlite3, Starsessions, redis_client

OMNI, STAR, RAW, SQLITE3 = "omnisession", "starsessions RedisStore", "redis-py raw", "sqlite3 store"

# A side is (impl,) or (impl, the in-flight counts it runs at).
GROUPS: List[Dict[str, Any]] = [
    {
        "backend": "redis",
        "stores": {OMNI: Omni, STAR: Starsessions, RAW: RawRedis},
        "ops": {
            "get": [(OMNI,), (STAR,), (RAW, (64,))],
            "save": [(OMNI,), (STAR,)],
            "touch": [(OMNI,), (RAW,)],
            # A request's whole use of the store: the read that loads the session, then the touch
            # or save that ends it (shown, not a target).
            "get+touch": [(OMNI,), (RAW,)],
            "get+save": [(OMNI,), (STAR,)],
        },
    },
    {
        "backend": "sqlite",
        "stores": {OMNI: Omni, SQLITE3: Sqlite3},
        "ops": {"get": [(OMNI,), (SQLITE3,)], "save": [(OMNI,), (SQLITE3,)]},
    },
]


async def fill(store: Any, size: int, count: int) -> List[Dict[str, str]]:
    """`count` sessions created 64 at a time (the fill is not measured)."""
    pool: List[Any] = [None] * count
    todo = iter(range(count))

    async def worker() -> None:
        for i in todo:
            pool[i] = await store.create(i, payload(size, i))

    await asyncio.gather(*(worker() for _ in range(min(64, count))))
    return pool


def op_of(op: str, impl: str, store: Any, pool: List[Dict[str, str]]) -> Any:
    if "+" in op:
        first, then = op.split("+")
        read, write = op_of(first, impl, store, pool), op_of(then, impl, store, pool)

        async def cycle(i: int) -> None:
            await read(i)
            await write(i)
        return cycle

    def id(i: int) -> str:
        return pool[i % len(pool)]["id"]

    if op == "get":
        async def get(i: int) -> None:
            if await store.get(id(i)) is None:
                raise RuntimeError(f"{impl}: lost a session")
        return get
    if op == "save":
        return lambda i: store.save(id(i), i)
    if op == "touch":
        return lambda i: store.touch(id(i))
    raise ValueError(op)


async def main(a: argparse.Namespace) -> None:
    only = [o for o in a.only.split(",") if o]
    sizes, in_flights = [int(s) for s in a.sizes.split(",")], [int(f) for f in a.inflight.split(",")]
    flusher, loop, results = redis_client(a.redis), loop_name(), []
    for group in GROUPS:
        backend = group["backend"]
        ops = [(op, spec) for op, spec in group["ops"].items()
               if not only or any(o in f"python {backend} {op}" for o in only)]
        if not ops:
            continue
        for size in sizes:
            stores, pools = {}, {}
            for impl, cls in group["stores"].items():
                if not any(side[0] == impl for _, spec in ops for side in spec):
                    continue
                tag = f"pair-{impl}-{backend}-{size}".replace(" ", "_")
                stores[impl] = await cls.open(backend, {"redis_url": a.redis, "tmp": a.tmp, "tag": tag})
                pools[impl] = await fill(stores[impl], size, a.pool)
            for op, spec in ops:
                pair = f"python {backend} {op}"
                for in_flight in in_flights:
                    n = a.n1 if in_flight == 1 else a.n
                    sides = [{"impl": side[0], "runs": [], "op": op_of(op, side[0], stores[side[0]], pools[side[0]])}
                             for side in spec if len(side) == 1 or in_flight in side[1]]
                    for _ in range(a.rounds):
                        for s in sides:
                            s["runs"].append(await measure(s["op"], n, in_flight, max(5, n // 20)))
                    for s in sides:
                        runs = s["runs"]
                        of = lambda field: statistics.median_high(r[field] for r in runs)  # noqa: E731
                        results.append({
                            "runner": "pairs", "pair": pair, "impl": s["impl"], "backend": backend, "op": op,
                            "size": size, "in_flight": in_flight, "loop": loop, "n": runs[0]["n"],
                            "rounds": [r["ops_per_s"] for r in runs], "p50_rounds": [r["p50_us"] for r in runs],
                            "p99_rounds": [r["p99_us"] for r in runs],
                            "ops_per_s": of("ops_per_s"), "p50_us": of("p50_us"), "p99_us": of("p99_us"),
                        })
                    summary = ", ".join(
                        f"{s['impl']} {statistics.median_high(r['ops_per_s'] for r in s['runs']) / 1000:.1f} k" for s in sides)
                    print(f"pairs {pair} {size}B x{in_flight}: {summary} ops/s (median of {a.rounds}, {loop})",
                          file=sys.stderr)
            for store in stores.values():
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
    p.add_argument("--n", type=int, default=5000, help="ops per side per round at 64 in flight")
    p.add_argument("--n1", type=int, default=1500, help="ops per side per round at 1 in flight")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--pool", type=int, default=5000, help="sessions stored per side")
    p.add_argument("--only", default="", help="comma-separated parts of pair names, e.g. 'redis get,sqlite'")
    p.add_argument("--sizes", default="1024,16384")
    p.add_argument("--inflight", default="1,64")
    run(main(p.parse_args()))
