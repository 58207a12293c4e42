#!/usr/bin/env python3
"""Runs every bench scenario against a private redis-server and reports ratios.

    python bench/run.py            # full run: bench/results/*.json, *.png, tables.md
    python bench/run.py --smoke    # every scenario and pair with a handful of ops (harness check, < ~60 s)
    python bench/run.py --only pairs,python-pairs --out /tmp/pairs   # some scenarios, results elsewhere

Optional: OMNISTORAGE_CORE_DIR=<checkout of omnistorage-core v0.5.1> for the Go runner.
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import redis_benchmark  # noqa: E402
from harness.builds import debug_builds  # noqa: E402
from harness.redis_server import redis_server, replicated_redis  # noqa: E402
from harness.scenarios import BENCH, REPLICATED_URL, python_default, scenarios  # noqa: E402
from harness.tables import matrix, pairs_table, request_table, scaling_table, sealed_table, targets_table  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--smoke", action="store_true", help="tiny op counts: checks the harness, not the speed")
    p.add_argument("--only", default="", help="comma-separated scenario names to run")
    p.add_argument("--python", default=python_default(), help="interpreter with omnisession + requirements.txt")
    p.add_argument("--out", default="", help="results directory (default bench/results, bench/results/smoke)")
    a = p.parse_args()
    # A smoke run must never overwrite the published numbers.
    out = a.out or (os.path.join(BENCH, "results", "smoke") if a.smoke else os.path.join(BENCH, "results"))
    os.makedirs(out, exist_ok=True)
    only = set(filter(None, a.only.split(",")))
    if not a.smoke and (slow := debug_builds(a.python)):
        print("bench: refusing to time bindings that are not release builds (" + "; ".join(slow) + "). "
              "`make bench` builds release ones; see bench/README.md, How to run.", file=sys.stderr)
        return 2
    failed = []
    with tempfile.TemporaryDirectory(prefix="omnisession-bench-") as tmp, redis_server() as port:
        url = f"redis://127.0.0.1:{port}"
        for sc in scenarios(a.smoke, url, tmp, out, a.python):
            if only and sc.name not in only:
                continue
            target = os.path.join(out, f"{sc.name}.json")
            if sc.skip:
                print(f"[{sc.name}] skipped: {sc.skip}", file=sys.stderr)
                json.dump([{"runner": sc.name, "skipped": sc.skip}], open(target, "w"))
                continue
            t0 = time.time()
            if sc.replicated:
                with replicated_redis() as master:
                    cmd = [f"redis://127.0.0.1:{master}" if c == REPLICATED_URL else c for c in sc.cmd]
                    r = subprocess.run(cmd, cwd=sc.cwd, env={**os.environ, **sc.env})
            else:
                r = subprocess.run(sc.cmd, cwd=sc.cwd, env={**os.environ, **sc.env})
            print(f"[{sc.name}] {'ok' if r.returncode == 0 else 'FAILED'} in {time.time() - t0:.1f}s", file=sys.stderr)
            if r.returncode != 0:
                failed.append(sc.name)
        if not only or "redis-benchmark" in only:
            rows = redis_benchmark.run(port, 200 if a.smoke else 100000, [1024, 16384], [1, 64])
            json.dump(rows, open(os.path.join(out, "redis-benchmark.json"), "w"), indent=1)
    rows = []
    for f in sorted(glob.glob(os.path.join(out, "*.json"))):
        if not f.endswith("ratios.json"):
            rows += json.load(open(f))
    report(rows, out)
    if failed:
        print(f"failed scenarios: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def report(rows, out) -> None:
    from harness.plots import plot_all
    from harness.ratios import targets

    json.dump(targets(rows), open(os.path.join(out, "ratios.json"), "w"), indent=1)
    skipped = [f"- {r['runner']}: {r['skipped']}" for r in rows if "skipped" in r]
    sections = ["## Targets", "", targets_table(rows), ""]
    if skipped:
        sections += ["Skipped:", *skipped, ""]
    sections += ["## Head to head (the cells of the targets, in turns)", "", pairs_table(rows)]
    sections += ["## Request cycles on Redis (a read, then the touch or save that ends the request; in turns, "
                 "shown, not targets)", "", request_table(rows)]
    sections += ["## Sealed cookies (one request: open the incoming value, seal the outgoing one; in turns)", "",
                 sealed_table(rows)]
    for runner in ("node", "python", "django", "rust", "go", "redis-benchmark"):
        sections += [f"## {runner}", "", matrix(rows, runner)]
    sections += ["## Scaling, cleanup, memory", "", scaling_table(rows), ""]
    with open(os.path.join(out, "tables.md"), "w") as f:
        f.write("\n".join(sections))
    plot_all(rows, out)
    print(targets_table(rows))


if __name__ == "__main__":
    sys.exit(main())
