"""The Rust-vs-Go targets, head to head: the two runners take turns in `gets` mode (1 KiB, 64 in
flight, a fresh process and a fresh fill each time), and each target reads the median of the
per-round ratios. One run of each, one after the other, is what the full matrix needs; on a
shared 2-core machine Go's memory get alone moved 3× between such runs."""

import argparse
import json
import os
import statistics
import subprocess
import sys
from typing import Callable, Dict, List

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(runners: List[Callable[[str], List[str]]], scratch: str, rounds: int) -> List[Dict]:
    """Each runner is a command line given the file to write its rows to (in `gets` mode).
    Returns one row per (runner, backend, op) with every round's ops/s."""
    sides: Dict[tuple, Dict] = {}
    for _ in range(rounds):
        for cmd in runners:
            target = os.path.join(scratch, "native-pairs-round.json")
            subprocess.run(cmd(target), cwd=REPO, check=True)
            for row in json.load(open(target)):
                if row.get("op") not in ("get", "get_shared"):
                    continue
                key = (row["runner"], row["backend"], row["op"])
                side = sides.setdefault(key, {**row, "runs": []})
                side["runs"].append(row)
            os.remove(target)
    rows = []
    for (runner, backend, op), side in sides.items():
        runs = side.pop("runs")
        of = lambda field: statistics.median(x[field] for x in runs)  # noqa: E731
        rows.append({**side, "runner": "pairs", "pair": f"native {backend} get", "impl": f"{runner} {op}",
                     "rounds": [x["ops_per_s"] for x in runs], "n": runs[0]["n"],
                     "ops_per_s": of("ops_per_s"), "p50_us": of("p50_us"), "p99_us": of("p99_us")})
    return rows


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--redis", required=True)
    p.add_argument("--gobench", required=True, help="the Go runner, built")
    p.add_argument("--rust", required=True, help="the Rust runner's cargo command line, before --")
    p.add_argument("--out", required=True)
    p.add_argument("--n", default="10000")
    p.add_argument("--rounds", type=int, default=7)
    a = p.parse_args()
    rust = lambda out: [*a.rust.split(), "--", a.redis, out, a.n, "gets"]  # noqa: E731
    go = lambda out: [a.gobench, "-redis", a.redis, "-out", out, "-n", a.n, "-gets"]  # noqa: E731
    rows = run([rust, go], os.path.dirname(os.path.abspath(a.out)), a.rounds)
    json.dump(rows, open(a.out, "w"), indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
