"""Every scenario of the bench as a command line, with its full and its smoke sizes. Each writes
one JSON file of rows (see bench/node/measure.mjs for the fields) into the results directory."""

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(BENCH)


@dataclass
class Scenario:
    name: str
    cmd: List[str]
    cwd: str
    env: Dict[str, str] = field(default_factory=dict)
    skip: Optional[str] = None  # why it cannot run here
    # Runs against its own master with a replica, whose URL replaces REPLICATED_URL in `cmd`.
    replicated: bool = False


REPLICATED_URL = "{replicated-redis-url}"


def go_workspace(tmp: str) -> Optional[str]:
    """omnistorage-core v0.5.1 is not served by the Go proxy (403 "not available"): go.mod
    replaces it with the checkout beside the repository; OMNISTORAGE_CORE_DIR names another one,
    through a go.work written outside the repository."""
    src = os.environ.get("OMNISTORAGE_CORE_DIR")
    if not src:
        return None
    path = os.path.join(tmp, "go.work")
    with open(path, "w") as f:
        f.write(f"go 1.26.0\n\nuse {os.path.join(BENCH, 'go')}\n\n"
                f"replace github.com/plexusone/omnistorage-core v0.5.1 => {os.path.abspath(src)}\n")
    return path


def build_go(tmp: str) -> Optional[str]:
    """Builds bench/go; returns None or the reason it could not be built."""
    if not shutil.which("go"):
        return "go is not installed"
    env = dict(os.environ)
    work = go_workspace(tmp)
    if work:
        env["GOWORK"] = work
    else:
        env["GOFLAGS"] = "-mod=mod"
    r = subprocess.run(["go", "build", "-o", os.path.join(tmp, "gobench"), "."], cwd=os.path.join(BENCH, "go"),
                       env=env, capture_output=True, text=True)
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["go build failed"])[-1]
        hint = "" if work else (" (go.mod expects omnistorage-core v0.5.1 at ../shared/vendor/omnistorage-core;"
                                " OMNISTORAGE_CORE_DIR names another checkout)")
        return f"go build failed: {last.strip()}{hint}"
    return None


def scenarios(smoke: bool, redis_url: str, tmp: str, out: str, python: str) -> List[Scenario]:
    node, py = os.path.join(BENCH, "node"), os.path.join(BENCH, "python")
    n = "20" if smoke else "10000"
    common = ["--redis", redis_url, "--tmp", tmp]
    res = lambda name: os.path.join(out, f"{name}.json")  # noqa: E731
    go_skip = build_go(tmp)
    rust = ["cargo", "run", "--quiet", "-p", "omnisession", "--example", "bench_stores"]
    if not smoke:
        rust.insert(2, "--release")
    return [
        Scenario("node", ["node", "workloads.mjs", *common, "--out", res("node"), "--n", n], node),
        # Head to head: every production cell in alternating rounds (node/pairs.mjs, python/pairs.py).
        Scenario("pairs", ["node", "pairs.mjs", *common, "--out", res("pairs"),
                           *(["--n", "20", "--n1", "10", "--rounds", "2", "--pool", "20"] if smoke else
                             ["--n", "10000", "--n1", "3000", "--rounds", "5", "--pool", "10000"])], node),
        Scenario("python", [python, "workloads.py", *common, "--out", res("python"), "--n", n], py),
        Scenario("python-pairs", [python, "pairs.py", *common, "--out", res("python-pairs"),
                                  *(["--n", "20", "--n1", "10", "--rounds", "2", "--pool", "20"] if smoke else
                                    ["--n", "5000", "--n1", "1500", "--rounds", "5", "--pool", "5000"])], py),
        # Sealed cookie sessions: one request's open + seal against iron-session (Node) and Django's
        # signed_cookies (its engine, and the signing calls under it), in alternating rounds.
        Scenario("sealed", ["node", "sealed.mjs", "--out", res("sealed"),
                            *(["--n", "20", "--n1", "10", "--rounds", "2", "--pool", "20"] if smoke else
                              ["--n", "5000", "--n1", "3000", "--rounds", "5", "--pool", "1000"])], node),
        # What wait_replicas costs a login and a logout (a master with one replica of its own).
        Scenario("durability", ["node", "durability.mjs", "--redis", REPLICATED_URL, "--out", res("durability"),
                                *(["--n", "20", "--n1", "10", "--rounds", "2"] if smoke else
                                  ["--n", "5000", "--n1", "2000", "--rounds", "5"])], node, replicated=True),
        Scenario("python-sealed", [python, "sealed.py", "--out", res("python-sealed"),
                                   *(["--n", "20", "--rounds", "2", "--pool", "20"] if smoke else
                                     ["--n", "5000", "--rounds", "5", "--pool", "1000"])], py),
        Scenario("django-sqlite", [python, "django_bench.py", *common, "--out", res("django-sqlite"),
                                   "--n", "20" if smoke else "3000", "--backend", "sqlite"], py),
        Scenario("django-redis", [python, "django_bench.py", *common, "--out", res("django-redis"),
                                  "--n", "20" if smoke else "3000", "--backend", "redis"], py),
        Scenario("go", [os.path.join(tmp, "gobench"), "-redis", redis_url, "-out", res("go"), "-n", n],
                 BENCH, skip=go_skip),
        Scenario("rust", [*rust, "--", redis_url, res("rust"), n], REPO),
        Scenario("native-pairs", [python, "-m", "harness.native_pairs", "--redis", redis_url,
                                  "--gobench", os.path.join(tmp, "gobench"), "--rust", " ".join(rust),
                                  "--out", res("native-pairs"), "--n", n, "--rounds", "2" if smoke else "7"],
                 BENCH, skip=go_skip),
        Scenario("scaling", ["node", "scaling.mjs", *common, "--out", res("scaling"),
                             "--counts", "100,1000,3000" if smoke else "1000,100000,1000000",
                             "--n", "100" if smoke else "5000"], node),
        Scenario("cleanup", ["node", "cleanup.mjs", "--tmp", tmp, "--out", res("cleanup"),
                             "--fixed", "1000" if smoke else "100000",
                             "--fixed-expired", "100" if smoke else "10000",
                             "--steps", "10,100,1000" if smoke else "1000,10000,100000"], node),
        Scenario("rss", ["node", "--expose-gc", "rss.mjs", "--out", res("rss"),
                         "--count", "2000" if smoke else "100000"], node),
    ]


def python_default() -> str:
    venv = os.path.join(REPO, ".venv", "bin", "python")
    return venv if os.path.exists(venv) else sys.executable
