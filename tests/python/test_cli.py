"""The ``omnisession`` console script as the Python package installs it: the core's admin
command (docs/cli.md), run against a Redis store this process wrote."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from typing import Any, List

import omnisession


def fingerprint(session_id: str) -> str:
    """id::fingerprint: SHA-256 of a fixed prefix and the id, its first 20 hex characters."""
    return hashlib.sha256(b"omnisession-fingerprint\0" + session_id.encode()).hexdigest()[:20]


def script() -> str:
    # The console script pip put beside this interpreter (the venv's bin).
    found = shutil.which("omnisession", path=os.path.dirname(sys.executable))
    assert found, "the omnisession console script is not installed next to this python"
    return found


def run(*args: str) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(
        [script(), *args], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60
    )


def test_the_console_script_lists_and_revokes_sessions_by_id_hash(redis_server: Any) -> None:
    prefix = "cli-test:"
    store = omnisession.Store.open(backend="redis", url=redis_server.url, key_prefix=prefix)
    try:
        ids: List[str] = [store.create("alice", data={"n": n})["id"] for n in range(2)]
        base = ["--url", redis_server.url, "--key-prefix", prefix]

        listed = run("list", "--user", "alice", "--json", *base)
        assert listed.returncode == 0, listed.stderr
        shown = [s["id_hash"] for s in json.loads(listed.stdout)["sessions"]]
        assert sorted(shown) == sorted(fingerprint(i) for i in ids)
        for i in ids:
            assert i not in listed.stdout and i not in listed.stderr

        refused = run("revoke", "--user", "alice", *base)
        assert refused.returncode == 2 and "--yes" in refused.stderr

        revoked = run("revoke", "--id-hash", fingerprint(ids[0]), "--yes", "--json", *base)
        assert revoked.returncode == 0, revoked.stderr
        assert json.loads(revoked.stdout) == {"revoked": 1}
        assert store.get(ids[0]) is None
        assert store.get(ids[1]) is not None

        usage = run("stats", "--url", "ftp://example.com/x")
        assert usage.returncode == 2 and "CONFIG_INVALID" in usage.stderr

        helped = subprocess.run(
            [sys.executable, "-m", "omnisession", "--help"], capture_output=True, text=True, timeout=60
        )
        assert helped.returncode == 0 and "Usage: omnisession" in helped.stdout
    finally:
        store.close()
