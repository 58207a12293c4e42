"""Throughput and latency of one operation, in the same shape as bench/node/measure.mjs."""

import asyncio
import secrets
import time
from typing import Any, Awaitable, Callable, Coroutine, Dict, List

try:
    import uvloop
except ImportError:  # pragma: no cover - bench/requirements.txt pins it
    uvloop = None


def _summary(lat: List[float], secs: float) -> Dict[str, float]:
    lat.sort()
    n = len(lat)
    pct = lambda p: lat[min(n - 1, int(p * n))] * 1e6  # noqa: E731
    return {"n": n, "ops_per_s": n / secs, "p50_us": pct(0.5), "p99_us": pct(0.99)}


async def measure(op: Callable[[int], Awaitable[Any]], n: int, in_flight: int, warmup: int = 0) -> Dict[str, float]:
    """`in_flight` tasks pull indices 0..n-1; warm-up uses indices past n (see the Node twin)."""
    for i in range(warmup):
        await op(n + i)
    lat = [0.0] * n
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            t0 = time.perf_counter()
            await op(i)
            lat[i] = time.perf_counter() - t0

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(in_flight, n))))
    return _summary(lat, time.perf_counter() - t0)


def measure_sync(op: Callable[[int], Any], n: int, warmup: int = 0) -> Dict[str, float]:
    for i in range(warmup):
        op(n + i)
    lat = [0.0] * n
    t0 = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        op(i)
        lat[i] = time.perf_counter() - t
    return _summary(lat, time.perf_counter() - t0)


def run(main: Coroutine[Any, Any, Any]) -> Any:
    """Runs the asyncio runner under uvloop (the fastest loop an asyncio app can pick, and the one
    uvicorn picks when it is installed): omnisession and its peers share that one loop."""
    if uvloop is None:
        raise SystemExit("uvloop is not installed: pip install -r bench/requirements.txt")
    return uvloop.run(main)


def loop_name() -> str:
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


def payload(size: int, i: int = 0) -> Dict[str, Any]:
    """Session data whose JSON is about `size` bytes, as in every runner."""
    return {"user": f"user-{i}", "cart": [1, 2, 3], "blob": "x" * max(0, size - 64)}


BASE62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def token_payload(size: int, i: int = 0) -> Dict[str, Any]:
    """Session data whose JSON is about `size` bytes, shaped as `payload` but with a blob of
    pseudo-random base62 text (ids, tokens) instead of a run of `x`: what a cookie carries, and
    what does not compress to nothing (Django's signed_cookies compresses before it signs). The
    same generator as bench/node/measure.mjs's, so both runners seal the same bytes."""
    x = ((i + 1) * 7919) & 0x7FFFFFFF
    out = []
    for _ in range(max(0, size - 64)):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out.append(BASE62[(x >> 16) % 62])
    return {"user": f"user-{i}", "cart": [1, 2, 3], "blob": "".join(out)}


def sid() -> str:
    return secrets.token_urlsafe(24)
