"""Which builds of the bindings a run would time: a debug build is 5-30x slower than the
release build users install, so a full run refuses one (`make bench` builds release bindings
apart from the working tree's and points the runners at them)."""

import os
import subprocess
from typing import List

from .scenarios import REPO

NODE = ("console.log(require(process.argv[1]).loadNative().buildProfile())",
        os.path.join(REPO, "bindings-node", "js", "load-native.js"))
PYTHON = "import omnisession._native as n; print(n._BUILD_PROFILE)"


def _profile(cmd: List[str]) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return f"unknown ({(r.stderr.strip().splitlines() or ['no output'])[-1]})"
    return r.stdout.strip()


def debug_builds(python: str) -> List[str]:
    """The bindings this run would load that are not release builds, each with what it is."""
    found = {
        "Node addon": _profile(["node", "-e", NODE[0], NODE[1]]),
        "Python module": _profile([python, "-c", PYTHON]),
    }
    return [f"{name}: {profile}" for name, profile in found.items() if profile != "release"]
