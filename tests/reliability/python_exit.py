"""Processes that exit right after their last await: N runs of tests/python/exit_scenario.py
(memory and custom backends, results and violation callbacks in flight at exit), 0 crashes.

    python tests/reliability/python_exit.py 500     # make reliability
    python tests/reliability/python_exit.py 40      # short

The counting is tests/python/exit_stress.py's; this wrapper only adds the figures line and
the exit status, so the reliability runs and the pytest suite share one definition of crash.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "python"))

import exit_stress  # noqa: E402  (needs the path above)


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else (os.cpu_count() or 2)
    r = exit_stress.measure(runs, workers)
    print(f"python exit: runs={r['runs']} crashes={r['crashes']} codes={r['codes']} time={r['seconds']}s")
    if r["first_error"]:
        print(r["first_error"], file=sys.stderr)
    print(json.dumps(r))
    return 1 if r["crashes"] else 0


if __name__ == "__main__":
    sys.exit(main())
