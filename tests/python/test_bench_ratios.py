"""The bench's targets (bench/harness/ratios.py): how a ratio is read from head-to-head rounds,
and what stands in when a run has none."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))

from harness.ratios import targets  # noqa: E402

GET = dict(op="get", size=1024, in_flight=64)
MEMORY = "Node memory get vs express-session MemoryStore (64 in flight, 1 KiB)"


def target(rows, name):
    return next(t for t in targets(rows) if t["target"] == name)


def pair(impl, rounds):
    return {"runner": "pairs", "pair": "node memory get", "impl": impl, "backend": "memory", **GET,
            "rounds": rounds, "ops_per_s": sorted(rounds)[len(rounds) // 2]}


def test_a_head_to_head_target_is_the_median_of_the_per_round_ratios():
    # Per round 0.5, 4.0 and 0.75: the median is 0.75, where the ratio of the medians would be
    # 300 / 200 = 1.5 and call the target met.
    rows = [pair("omnisession", [100, 400, 300]), pair("express-session MemoryStore", [200, 100, 400])]
    t = target(rows, MEMORY)
    assert t["ratio"] == 0.75
    assert t["met"] is False
    assert "median of 3 alternating rounds" in t["note"]
    rows = [pair("omnisession", [300, 320, 600]), pair("express-session MemoryStore", [200, 100, 400])]
    assert target(rows, MEMORY)["ratio"] == 1.5  # per round 1.5, 3.2, 1.5
    assert target(rows, MEMORY)["met"] is True


def test_without_rounds_a_target_divides_the_matrix_cells():
    rows = [
        {"runner": "node", "impl": "omnisession", "backend": "memory", **GET, "ops_per_s": 150.0},
        {"runner": "node", "impl": "express-session MemoryStore", "backend": "memory", **GET, "ops_per_s": 100.0},
    ]
    t = target(rows, MEMORY)
    assert t["ratio"] == 1.5
    assert t["note"] == "matrix cells, one run"


def scaling(backend, stored, p99, rounds=None, baseline=None):
    row = {"scenario": "scaling", "backend": backend, "stored": stored, "p99_us": p99}
    if rounds:
        row.update(p99_rounds=rounds, baseline_p99_rounds=baseline, baseline_stored=1000)
    return row


def test_a_scaling_target_pairs_each_round_with_the_small_store_measured_beside_it():
    rows = [scaling("redis", 1000, 10.0, [10, 11, 12], [10, 10, 10]),
            scaling("redis", 1000000, 99.0, [20, 12, 30], [10, 10, 10])]
    t = target(rows, "redis: get p99 at 1000000 stored / at 1000")
    assert t["ratio"] == 2.0  # per round 2.0, 1.2, 3.0
    assert t["met"] is False


def test_scaling_rows_of_an_older_run_divide_the_largest_p99_by_the_smallest():
    rows = [scaling("sqlite", 1000, 100.0), scaling("sqlite", 1000000, 120.0)]
    t = target(rows, "sqlite: get p99 at 1000000 stored / at 1000")
    assert t["ratio"] == 1.2
    assert t["met"] is True


def test_a_request_cycle_is_shown_as_the_median_of_its_per_round_ratios_and_is_no_target():
    from harness.ratios import request_cycles

    def side(impl, rounds):
        return {"runner": "pairs", "pair": "node redis get+touch", "impl": impl, "backend": "redis",
                "op": "get+touch", "size": 16384, "in_flight": 1, "rounds": rounds, "ops_per_s": sorted(rounds)[1]}

    rows = [side("omnisession", [90, 300, 120]), side("connect-redis", [100, 100, 100])]
    (cycle,) = request_cycles(rows)
    assert (cycle["pair"], cycle["size"], cycle["in_flight"]) == ("node redis get+touch", 16384, 1)
    assert cycle["ratio"] == 1.2  # per round 0.9, 3.0, 1.2
    assert not any("get+touch" in t["target"] for t in targets(rows))


def test_a_full_run_refuses_to_time_a_debug_build(tmp_path):
    """`bench/run.py` (not a smoke run) times only release builds: a debug build is 5-30x slower
    than what users install. The bindings `make test` builds are debug ones."""
    import subprocess

    import omnisession._native as native
    from harness.builds import debug_builds

    slow = debug_builds(sys.executable)
    assert (native._BUILD_PROFILE == "debug") == any(s.startswith("Python module") for s in slow)
    run = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "..", "..", "bench", "run.py"),
                          "--only", "no-such-scenario", "--out", str(tmp_path), "--python", sys.executable],
                         capture_output=True, text=True, timeout=120)
    if slow:
        assert run.returncode == 2, run.stderr
        assert "refusing to time bindings that are not release builds" in run.stderr
        assert all(s in run.stderr for s in slow)
        assert not os.listdir(tmp_path)
    else:
        assert run.returncode == 0, run.stderr
