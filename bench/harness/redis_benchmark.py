"""redis-benchmark GET/SET with 1 and 64 clients and the sessions' value sizes: the most a Redis
client could get out of this server on this machine, the ceiling for every Redis store."""

import csv
import io
import subprocess
from typing import Dict, List


def run(port: int, requests: int, sizes: List[int], clients: List[int]) -> List[Dict]:
    rows = []
    for size in sizes:
        for c in clients:
            out = subprocess.run(
                ["redis-benchmark", "-p", str(port), "-c", str(c), "-n", str(requests), "-d", str(size),
                 "-t", "get,set", "--csv"],
                capture_output=True, text=True, check=True,
            ).stdout
            for rec in csv.DictReader(io.StringIO(out)):
                rows.append({
                    "runner": "redis-benchmark", "impl": "redis-benchmark", "backend": "redis",
                    "op": {"GET": "get", "SET": "create"}[rec["test"]], "size": size, "in_flight": c,
                    "n": requests, "ops_per_s": float(rec["rps"]),
                    "p50_us": float(rec["p50_latency_ms"]) * 1000, "p99_us": float(rec["p99_latency_ms"]) * 1000,
                })
    return rows
