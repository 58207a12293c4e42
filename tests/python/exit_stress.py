"""Measures crashes at interpreter exit: runs exit_scenario.py N times, counts signals.

    python tests/python/exit_stress.py 500        # prints "runs=500 crashes=0 ..."

A crash is any run killed by a signal (SIGSEGV, SIGABRT) or exiting non-zero.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Tuple

SCENARIO = pathlib.Path(__file__).with_name("exit_scenario.py")


def run_once(i: int) -> Tuple[int, str]:
    kind = "custom" if i % 2 else "memory"
    p = subprocess.run([sys.executable, str(SCENARIO), kind], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stderr[-2000:]


def measure(runs: int, workers: int = 2) -> Dict[str, object]:
    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        results: List[Tuple[int, str]] = list(pool.map(run_once, range(runs)))
    failures = [(rc, err) for rc, err in results if rc != 0]
    return {
        "runs": runs,
        "crashes": len(failures),
        "codes": sorted({rc for rc, _ in failures}),
        "first_error": failures[0][1] if failures else "",
        "seconds": round(time.monotonic() - started, 1),
    }


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    r = measure(n)
    print(f"runs={r['runs']} crashes={r['crashes']} codes={r['codes']} seconds={r['seconds']}")
    if r["first_error"]:
        print(r["first_error"])
    sys.exit(1 if r["crashes"] else 0)
