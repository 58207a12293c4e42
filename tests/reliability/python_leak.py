"""Memory growth of long-running Python processes: many store operations on one store, RSS
compared after a warm-up and at the end, for AsyncStore and the blocking Store.

    python tests/reliability/python_leak.py --ops 1000000          # per API and backend
    python tests/reliability/python_leak.py --ops 100000 --apis async --backends memory

A leak in the binding (a reference never dropped, a future or a callback kept per call)
grows RSS with the number of calls; allocator and interpreter warm-up do not, which is why
the baseline is taken after the warm-up and not at the start. Prints one line of figures per
run and a JSON summary (last line); exits 1 when a run grows more than --max-growth percent.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional

import omnisession

MiB = 1024 * 1024
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mib() -> float:
    # Current RSS (ru_maxrss is the peak, which hides a drop and a later regrowth).
    gc.collect()
    gc.collect()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / MiB


def options(backend: str, directory: str) -> Dict[str, Any]:
    # Tombstones of deleted ids are state, not a leak: a short TTL and sweep keep their number
    # steady, so the figure measures the per-call cost only.
    opts: Dict[str, Any] = {
        "backend": backend,
        "tombstone_ttl": 1,
        "cleanup_interval": 1,
        "on_violation": lambda _event: None,
    }
    if backend == "sqlite":
        opts["path"] = os.path.join(directory, "leak.db")
    return opts


class Meter:
    """Counts operations and takes the readings: baseline after the warm-up, ten samples."""

    def __init__(self, total: int, warmup: float) -> None:
        self.total = total
        self.warmup_ops = int(total * warmup)
        self.ops = 0
        self.errors = 0
        self.baseline: Optional[float] = None
        self.baseline_ops = 0
        self.samples: List[float] = []
        self.next_sample = total / 10
        self.started = time.monotonic()

    def checkpoint(self) -> None:
        if self.baseline is None and self.ops >= self.warmup_ops:
            self.baseline = rss_mib()
            self.baseline_ops = self.ops
        if self.baseline is not None and self.ops >= self.next_sample:
            self.samples.append(round(rss_mib(), 1))
            self.next_sample += self.total / 10

    def error(self, api: str, backend: str, exc: BaseException) -> None:
        self.errors += 1
        self.ops += 1
        if self.errors <= 3:
            print(f"{api} {backend}: {exc!r}", file=sys.stderr)

    def result(self, api: str, backend: str) -> Dict[str, Any]:
        end = rss_mib()
        seconds = time.monotonic() - self.started
        base = self.baseline if self.baseline is not None else end
        return {
            "api": api,
            "backend": backend,
            "ops": self.ops,
            "errors": self.errors,
            "baselineOps": self.baseline_ops,
            "rssBeforeMiB": round(base, 1),
            "rssAfterMiB": round(end, 1),
            "growthPct": round((end - base) / base * 100, 2),
            "rssSamplesMiB": self.samples,
            "seconds": round(seconds, 1),
            "opsPerSec": round(self.ops / seconds),
        }


async def run_async(backend: str, args: argparse.Namespace) -> Dict[str, Any]:
    directory = tempfile.mkdtemp(prefix="omnisession-leak-")
    store = await omnisession.AsyncStore.open(**options(backend, directory))
    try:
        resident = [(await store.create(f"r{i % 50}", data={"i": i}))["id"] for i in range(args.resident)]
        meter = Meter(args.ops, args.warmup)

        # One cycle = 8 operations: create, get, patch, touch and delete of a short-lived
        # session, touch, get and patch of a resident one. Fixed key sets keep sizes constant.
        async def cycle(n: int) -> None:
            try:
                s = await store.create(f"u{n % 100}", data={"n": n, "tags": ["a", "b"], "blob": "x" * 64})
                got = await store.get(s["id"])
                if got is None or got["data"]["n"] != n:
                    raise AssertionError(f"read back {got!r}")
                await store.patch(s["id"], {"step": n % 7}, ["tags"])
                await store.touch(s["id"])
                await store.delete(s["id"])
                r = resident[n % len(resident)]
                await store.touch(r)
                await store.get(r)
                await store.patch(r, {f"k{n % 10}": n})
                meter.ops += 8
            except Exception as exc:  # counted and reported: any error fails the run
                meter.error("async", backend, exc)

        # Rounds of concurrent cycles; readings between rounds, with nothing in flight.
        n = 0
        while meter.ops < args.ops:
            await asyncio.gather(*(cycle(n + i) for i in range(args.concurrency)))
            n += args.concurrency
            meter.checkpoint()
        return meter.result("async", backend)
    finally:
        await store.close()
        shutil.rmtree(directory, ignore_errors=True)


def run_sync(backend: str, args: argparse.Namespace) -> Dict[str, Any]:
    directory = tempfile.mkdtemp(prefix="omnisession-leak-")
    store = omnisession.Store.open(**options(backend, directory))
    try:
        resident = [store.create(f"r{i % 50}", data={"i": i})["id"] for i in range(args.resident)]
        meter = Meter(args.ops, args.warmup)
        n = 0
        while meter.ops < args.ops:
            try:
                s = store.create(f"u{n % 100}", data={"n": n, "tags": ["a", "b"], "blob": "x" * 64})
                got = store.get(s["id"])
                if got is None or got["data"]["n"] != n:
                    raise AssertionError(f"read back {got!r}")
                store.patch(s["id"], {"step": n % 7}, ["tags"])
                store.touch(s["id"])
                store.delete(s["id"])
                r = resident[n % len(resident)]
                store.touch(r)
                store.get(r)
                store.patch(r, {f"k{n % 10}": n})
                meter.ops += 8
            except Exception as exc:  # counted and reported: any error fails the run
                meter.error("sync", backend, exc)
            n += 1
            if n % 32 == 0:
                meter.checkpoint()
        return meter.result("sync", backend)
    finally:
        store.close()
        shutil.rmtree(directory, ignore_errors=True)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=1_000_000, help="operations per API and backend")
    parser.add_argument("--apis", default="async,sync")
    parser.add_argument("--backends", default="memory,sqlite")
    parser.add_argument("--max-growth", type=float, default=10.0, help="percent")
    parser.add_argument("--warmup", type=float, default=0.1, help="share of ops before the baseline")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--resident", type=int, default=1000)
    args = parser.parse_args(argv)

    runners: Dict[str, Callable[[str], Dict[str, Any]]] = {
        "async": lambda backend: asyncio.run(run_async(backend, args)),
        "sync": lambda backend: run_sync(backend, args),
    }
    results = []
    for api in args.apis.split(","):
        for backend in args.backends.split(","):
            r = runners[api](backend)
            results.append(r)
            print(
                f"python {api} {backend}: ops={r['ops']} errors={r['errors']} "
                f"rss(after {r['baselineOps']} ops)={r['rssBeforeMiB']} MiB rss(end)={r['rssAfterMiB']} MiB "
                f"growth={r['growthPct']}% time={r['seconds']}s ({r['opsPerSec']} ops/s) "
                f"samples={','.join(map(str, r['rssSamplesMiB']))}",
                flush=True,
            )
    print(json.dumps({"maxGrowthPct": args.max_growth, "results": results}))
    failed = [r for r in results if r["errors"] or not r["growthPct"] < args.max_growth]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
