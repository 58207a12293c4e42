"""The ``omnisession`` console script: the admin command of the Rust core (docs/cli.md),
the same command as the Rust binary and ``npx omnisession``."""

from __future__ import annotations

import signal
import sys

from ._native import _cli_run


def main() -> None:
    # The command runs in Rust with the GIL released, so Python's own SIGINT handler would
    # only run once it is over: Ctrl-C ends it at once, as it ends the binary.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.stdout.flush()
    sys.exit(_cli_run(["omnisession", *sys.argv[1:]]))
