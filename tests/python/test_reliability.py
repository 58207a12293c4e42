"""Short version of the memory-growth run (tests/reliability/python_leak.py): many operations
through AsyncStore and the blocking Store must not grow RSS by 10% after the warm-up. The full
sizes run in `make reliability`; this keeps a per-call leak from reaching it unnoticed."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from typing import Any, Dict, List

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "reliability" / "python_leak.py"


def run_leak(*args: str) -> List[Dict[str, Any]]:
    # A process of its own: the suite's RSS (fixtures, other tests) must not count.
    p = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=900)
    lines = p.stdout.strip().splitlines()
    assert lines, p.stderr
    summary = json.loads(lines[-1])
    results: List[Dict[str, Any]] = summary["results"]
    for r in results:
        assert r["errors"] == 0, p.stderr
        assert r["growthPct"] < 10, p.stdout
    assert p.returncode == 0, p.stdout + p.stderr
    return results


@pytest.mark.parametrize(
    ("apis", "backend", "ops"),
    [("async,sync", "memory", 50_000), ("async,sync", "sqlite", 10_000)],
)
def test_many_operations_do_not_grow_rss(apis: str, backend: str, ops: int) -> None:
    # A third of the run as warm-up: short runs have a later allocator plateau to reach.
    results = run_leak("--ops", str(ops), "--apis", apis, "--backends", backend, "--warmup", "0.3")
    assert [r["api"] for r in results] == apis.split(",")
    assert all(r["ops"] >= ops for r in results)
