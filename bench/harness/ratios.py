"""The targets, each a ratio of two cells measured in the same run, and whether it was met."""

import math
import statistics
from typing import Dict, List, Optional


def cell(rows: List[Dict], **key) -> Optional[Dict]:
    for r in rows:
        if all(r.get(k) == v for k, v in key.items()) and "ops_per_s" in r:
            return r
    return None


def _ratio(rows, num: Dict, den: Dict, field: str = "ops_per_s") -> Optional[float]:
    a, b = cell(rows, **num), cell(rows, **den)
    return a[field] / b[field] if a and b and b[field] else None


def _median_ratio(nums: List[float], dens: List[float]) -> float:
    """The median of per-round ratios of two sides measured in turns (round k of each side ran
    back to back, so a slow spell of the machine lands on both)."""
    return statistics.median(x / y for x, y in zip(nums, dens) if y)


def _pair_side(rows, pair: str, impl: str, size: int = 1024, in_flight: int = 64) -> Optional[Dict]:
    """One side of a head-to-head pair (bench/node/pairs.mjs, bench/python/pairs.py,
    harness/native_pairs.py) in one cell. Rows without a size or in-flight count are the 1 KiB,
    64-in-flight cells of runs that measured only those."""
    return next((r for r in rows if r.get("runner") == "pairs" and r.get("pair") == pair and r["impl"] == impl
                 and r.get("size", 1024) == size and r.get("in_flight", 64) == in_flight), None)


def _slope(points: List[tuple]) -> Optional[float]:
    """Least-squares slope of log(time) against log(x): 1 is linear, 0 is flat."""
    pts = [(math.log(x), math.log(max(y, 1e-3))) for x, y in points if x > 0]
    if len(pts) < 2:
        return None
    mx, my = sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts)
    den = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / den if den else None


SIZES = (1024, 16384)
IN_FLIGHTS = (1, 64)

# The production cells of each runner: (op, backend, the peer's impl, the pair's peer label).
NODE_CELLS = [
    ("get", "redis", "connect-redis", "connect-redis"),
    ("save", "redis", "connect-redis", "connect-redis set"),
    ("touch", "redis", "connect-redis", "connect-redis touch"),
    ("get", "sqlite", "better-sqlite3 store", "the better-sqlite3 store"),
    ("save", "sqlite", "better-sqlite3 store", "the better-sqlite3 store"),
]
PYTHON_CELLS = [
    ("get", "redis", "starsessions RedisStore", "starsessions RedisStore"),
    ("save", "redis", "starsessions RedisStore", "starsessions RedisStore write"),
    ("touch", "redis", "redis-py raw", "redis-py EXPIRE"),
    ("get", "sqlite", "sqlite3 store", "the stdlib sqlite3 store"),
    ("save", "sqlite", "sqlite3 store", "the stdlib sqlite3 store"),
]
BACKEND_NAMES = {"redis": "Redis", "sqlite": "SQLite", "memory": "memory"}

# A request's whole use of a Redis store, shown beside the targets: the read that loads the
# session, then the touch or save that ends the request. (pair, peer impl, what the peer does)
REQUEST_CYCLES = [
    ("node redis get+touch", "connect-redis", "connect-redis get, then touch (EXPIRE)"),
    ("node redis get+save", "connect-redis", "connect-redis get, then set of the session"),
    ("python redis get+touch", "redis-py raw", "redis-py GET + json.loads, then EXPIRE"),
    ("python redis get+save", "starsessions RedisStore", "starsessions read, then write"),
]


def request_cycles(rows: List[Dict]) -> List[Dict]:
    """Each measured request cycle cell: the median of its per-round ratios and both sides."""
    out = []
    for pair, peer, what in REQUEST_CYCLES:
        for size in SIZES:
            for in_flight in IN_FLIGHTS:
                a = _pair_side(rows, pair, "omnisession", size, in_flight)
                b = _pair_side(rows, pair, peer, size, in_flight)
                if a and b and "rounds" in a and "rounds" in b:
                    out.append({"pair": pair, "peer": what, "size": size, "in_flight": in_flight, "omnisession": a,
                                "other": b, "ratio": _median_ratio(a["rounds"], b["rounds"])})
    return out


def _kib(size: int) -> str:
    return f"{size // 1024} KiB"


def size_label(size: int) -> str:
    """256 B, 2 KiB, 16 KiB."""
    return f"{size // 1024} KiB" if size >= 1024 and size % 1024 == 0 else f"{size} B"


# Sealed cookie sessions (bench/node/sealed.mjs, bench/python/sealed.py): one request's open +
# seal, omnisession first, in alternating rounds. (label, pair, peer impl, sizes, in-flight counts)
SEALED_SIZES = (256, 2048)
SEALED_TARGETS = [
    ("Node sealed cookie seal+open vs iron-session", "node sealed cookie", "iron-session", (1, 64),
     "one request: open + seal; iron-session's unsealData + sealData"),
    ("Django sealed cookie engine vs signed_cookies", "django sealed engine", "Django signed_cookies", (1,),
     "one request: SessionStore(value), load, a key set, save"),
]
# Measured and shown beside them (tables.md), not a target.
SEALED_PAIRS = SEALED_TARGETS + [
    ("Python Sealer.open+seal vs django.core.signing loads+dumps", "python sealed raw", "django.core.signing", (1,),
     "signed_cookies' own signing calls"),
]


def sealed_ratio(rows: List[Dict], pair: str, peer: str, size: int, in_flight: int) -> Optional[tuple]:
    """(median of the per-round ratios, the omnisession side, the peer's side) of a sealed cell."""
    a = _pair_side(rows, pair, "omnisession", size, in_flight)
    b = _pair_side(rows, pair, peer, size, in_flight)
    if not (a and b and "rounds" in a and "rounds" in b):
        return None
    return _median_ratio(a["rounds"], b["rounds"]), a, b


def targets(rows: List[Dict]) -> List[Dict]:
    get = dict(op="get", size=1024, in_flight=64)
    t = []

    def add(name: str, value: Optional[float], goal: float, higher: bool = True, note: str = "") -> None:
        met = None if value is None else (value >= goal if higher else value <= goal)
        t.append({"target": name, "ratio": value, "goal": ("≥ " if higher else "≤ ") + f"{goal:g}", "met": met, "note": note})

    def head_to_head(name: str, pair: str, sides: tuple, cells: tuple, goal: float, note: str = "",
                     size: int = 1024, in_flight: int = 64, field: str = "ops_per_s", higher: bool = True) -> None:
        """The median ratio of a pair's alternating rounds when they ran; else the two matrix
        cells of one run. `field` is ops_per_s (the rounds' throughput) or p50_us."""
        a, b = (_pair_side(rows, pair, impl, size, in_flight) for impl in sides)
        where = dict(op=get["op"], size=size, in_flight=in_flight)
        rounds = {"ops_per_s": "rounds", "p50_us": "p50_rounds"}[field]
        if a and b and rounds in a and rounds in b:
            value, how = _median_ratio(a[rounds], b[rounds]), f"median of {len(a[rounds])} alternating rounds"
        else:
            value = _ratio(rows, {**where, **cells[0]}, {**where, **cells[1]}, field)
            how = "matrix cells, one run"
        add(name, value, goal, higher=higher, note="; ".join(filter(None, [how, note])))

    def production(runner: str, label: str, cells: list) -> None:
        """Every production cell of a runner against its peer, at each size and in-flight count."""
        for op, backend, peer, peer_label in cells:
            for size in SIZES:
                for in_flight in IN_FLIGHTS:
                    head_to_head(f"{label} {BACKEND_NAMES[backend]} {op} vs {peer_label} ({in_flight} in flight, {_kib(size)})",
                                 f"{runner} {backend} {op}", ("omnisession", peer),
                                 (dict(runner=runner, impl="omnisession", backend=backend, op=op),
                                  dict(runner=runner, impl=peer, backend=backend, op=op)),
                                 1.0, size=size, in_flight=in_flight)

    omni_memory = dict(runner="node", impl="omnisession", backend="memory")
    omni_redis = dict(runner="node", impl="omnisession", backend="redis")
    head_to_head("Node memory get vs express-session MemoryStore (64 in flight, 1 KiB)", "node memory get",
                 ("omnisession", "express-session MemoryStore"),
                 (omni_memory, dict(runner="node", impl="express-session MemoryStore")), 1.2)
    production("node", "Node", NODE_CELLS)
    for size in SIZES:
        head_to_head(f"Node Redis get vs node-redis raw GET+JSON.parse (64 in flight, {_kib(size)})", "node redis get",
                     ("omnisession", "node-redis raw"), (omni_redis, dict(runner="node", impl="node-redis raw")), 1.0,
                     size=size)
    for size in SIZES:
        head_to_head(f"Node Redis get p50 at 1 in flight / redis-benchmark -c 1 GET p50 ({_kib(size)})", "node redis get",
                     ("omnisession", "redis-benchmark"), (omni_redis, dict(runner="redis-benchmark")), 1.5,
                     size=size, in_flight=1, field="p50_us", higher=False, note="latency: lower is better")
    head_to_head("Node Redis get vs redis-benchmark -c 64 GET (1 KiB)", "node redis get",
                 ("omnisession", "redis-benchmark"), (omni_redis, dict(runner="redis-benchmark")), 0.8)
    production("python", "Python asyncio", PYTHON_CELLS)
    for size in SIZES:
        head_to_head(f"Python asyncio Redis get vs redis-py raw GET+json.loads (64 in flight, {_kib(size)})",
                     "python redis get", ("omnisession", "redis-py raw"),
                     (dict(runner="python", impl="omnisession", backend="redis"), dict(runner="python", impl="redis-py raw")),
                     1.0, size=size)
    for label, pair, peer, in_flights, what in SEALED_TARGETS:
        for size in SEALED_SIZES:
            for in_flight in in_flights:
                got = sealed_ratio(rows, pair, peer, size, in_flight)
                where = f"{in_flight} in flight, {size_label(size)}" if len(in_flights) > 1 else size_label(size)
                add(f"{label} ({where})", got and got[0], 1.0,
                    note=f"median of {len(got[1]['rounds'])} alternating rounds; {what}" if got else what)
    add("Django engine on SQLite vs Django db engine in WAL mode (load+save cycle, 1 KiB)",
        _ratio(rows, dict(runner="django", impl="omnisession.django", backend="sqlite", op="save", size=1024),
               dict(runner="django", impl="Django db engine", op="save", size=1024)), 3.0)
    add("Django engine on Redis vs Django cache engine with hiredis (load+save cycle, 1 KiB)",
        _ratio(rows, dict(runner="django", impl="omnisession.django", backend="redis", op="save", size=1024),
               dict(runner="django", impl="Django cache engine", op="save", size=1024)), 1.0)
    head_to_head("Rust core Redis get vs omnistorage-core KVS+Redis (64 in flight, 1 KiB)", "native redis get",
                 ("rust get", "go get"), (dict(runner="rust", backend="redis"), dict(runner="go", backend="redis")), 1.5)
    head_to_head("Rust core memory get vs omnistorage-core memory (64 in flight, 1 KiB)", "native memory get",
                 ("rust get", "go get"), (dict(runner="rust", backend="memory"), dict(runner="go", backend="memory")), 1.0)
    head_to_head("Rust core memory get_shared vs omnistorage-core memory (64 in flight, 1 KiB)", "native memory get",
                 ("rust get_shared", "go get"),
                 (dict(runner="rust", backend="memory", op="get_shared"), dict(runner="go", backend="memory")), 1.0,
                 note="get_shared shares the stored session as Go's Get shares its Data map; get deep-copies")
    scaling = [r for r in rows if r.get("scenario") == "scaling"]
    for backend in ("memory", "sqlite", "redis"):
        mine = sorted((r for r in scaling if r["backend"] == backend), key=lambda r: r["stored"])
        if not mine:
            add(f"{backend}: get p99 at the most stored / at the fewest", None, 1.5, higher=False)
            continue
        top = mine[-1]
        if "p99_rounds" in top:
            # Each round measured the largest store and one of the fewest sessions back to back.
            value = _median_ratio(top["p99_rounds"], top["baseline_p99_rounds"])
            fewest, note = top["baseline_stored"], f"median of {len(top['p99_rounds'])} alternating rounds"
        else:  # results of a run before the rounds
            value, fewest, note = top["p99_us"] / mine[0]["p99_us"], mine[0]["stored"], "one run each"
        add(f"{backend}: get p99 at {top['stored']} stored / at {fewest}", value, 1.5, higher=False, note=note)
    cleanup = [r for r in rows if r.get("scenario") == "cleanup"]
    for backend in ("memory", "sqlite"):
        mine = [r for r in cleanup if r["backend"] == backend]
        if not mine:
            continue
        n_fixed = max(r["live"] for r in mine)
        e_fixed = min(r["expired"] for r in mine if r["live"] != n_fixed) if any(r["live"] != n_fixed for r in mine) else None
        vs_e = _slope([(r["expired"], r["cleanup_ms"]) for r in mine if r["live"] == n_fixed])
        vs_n = _slope([(r["live"], r["cleanup_ms"]) for r in mine if r["expired"] == e_fixed])
        add(f"{backend}: cleanup log-log slope vs expired E (N = {n_fixed}); 1 = linear", vs_e, 1.3, higher=False,
            note="linear if 0.7..1.3")
        t[-1]["goal"] = "0.7–1.3"
        if vs_e is not None:
            t[-1]["met"] = 0.7 <= vs_e <= 1.3
        add(f"{backend}: cleanup log-log slope vs stored N (E = {e_fixed}); 0 = flat", vs_n, 0.3, higher=False,
            note="flat if ≤ 0.3")
    return t
