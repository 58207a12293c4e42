"""The examples run as real processes: the prometheus_client example's counters, and the demo
driver end to end (SQLite; it starts the Express and FastAPI apps itself and stops them by PID)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parents[2]


def run(args: List[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=180)


def node() -> str:
    found = shutil.which("node")
    assert found, "node is needed to run the demo (make node)"
    return found


def test_prometheus_client_example_counts_each_violation_under_its_type() -> None:
    result = run([sys.executable, str(ROOT / "examples" / "metrics" / "violations_prometheus_client.py")])
    assert result.returncode == 0, result.stderr
    counters: Dict[str, float] = {
        m[1]: float(m[2]) for m in re.finditer(r'^omnisession_violations_total\{type="(\w+)"\} (\S+)$', result.stdout, re.M)
    }
    assert counters == {
        "size_exceeded": 1.0,
        "not_serializable": 0.0,
        "invalid_session": 0.0,
        "session_limit_exceeded": 2.0,
        "site_mismatch": 0.0,
        "malformed_id": 0.0,
    }
    assert "# TYPE omnisession_violations_total counter" in result.stdout.splitlines()


def test_demo_shares_sessions_between_express_and_fastapi_over_sqlite() -> None:
    result = run([node(), str(ROOT / "examples" / "demo" / "run.mjs")], BACKEND="sqlite", PYTHON=sys.executable)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    lines = [line.strip() for line in out.splitlines()]
    assert lines[-1] == "demo OK"
    assert lines[1].startswith("store    sqlite, one file: ")

    def one(pattern: str) -> re.Match[str]:
        found = [m for m in (re.fullmatch(pattern, line) for line in lines) if m]
        assert len(found) == 1, f"{pattern!r} in:\n{out}"
        return found[0]

    # The login on Express is the session FastAPI reads, and the other way round.
    s1 = one(r"laptop\s+logs in as alice on express\s+session (\S{8})…")[1]
    assert one(r"laptop\s+reads its session on fastapi\s+user alice, same session (\S{8})…")[1] == s1
    one(r'laptop\s+reads its cart on express\s+cart \["tea"\]')
    s2 = one(r"phone\s+logs in as alice on fastapi\s+session (\S{8})…")[1]
    assert one(r"phone\s+reads its session on express\s+user alice, same session (\S{8})…")[1] == s2
    # Both apps refuse the oversized note; the per-user limit evicts; one revoke covers both apps.
    assert len([line for line in lines if line.endswith("refused: 413 SESSION_SIZE_EXCEEDED")]) == 2
    assert one(r"phone\s+lists alice's sessions on express\s+2: (.*)")[1] == f"{s1}… (express), {s2}… (fastapi)"
    one(r"desktop\s+revokes all of alice's sessions on express\s+2 revoked")
    one(r"laptop\s+visits fastapi\s+signed out: its session, the oldest, was evicted")
    one(r"phone\s+visits express\s+signed out: its session, now the oldest, was evicted")
    assert len([line for line in lines if line.endswith("signed out: revoked")]) == 2
    # Each host received its own events, in order.
    events = [(m[1], m[2]) for m in (re.fullmatch(r"(express|fastapi) (\w+)\s+user alice, .*", line) for line in lines) if m]
    assert events == [
        ("express", "size_exceeded"), ("express", "session_limit_exceeded"),
        ("fastapi", "size_exceeded"), ("fastapi", "session_limit_exceeded"),
    ]
    one(r"fastapi session_limit_exceeded\s+user alice, 2 sessions already \(limit 2\): oldest evicted")
    # The devices page in Chromium: on each app and across apps, the revoked device is signed out.
    assert len([line for line in lines if re.fullmatch(r"phone\s+visits (express|fastapi)\s+signed out: shown the sign-in form", line)]) == 4
    one(r"laptop\s+lists its devices on fastapi\s+Firefox on Linux \(this device\)")
    one(r"browser\s+9 screenshots\s+target/demo-screenshots")
    assert all((ROOT / "target" / "demo-screenshots" / f"{app}-2-two-devices.png").stat().st_size > 0 for app in ("express", "fastapi"))
    # Both servers were stopped by PID and are gone.
    pids = [int(p) for p in one(r"stopped fastapi \(pid (\d+)\), express \(pid (\d+)\)").groups()]
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        raise AssertionError(f"pid {pid} still runs")


def test_demo_fails_loudly_on_an_unknown_backend() -> None:
    result = run([node(), str(ROOT / "examples" / "demo" / "run.mjs")], BACKEND="nosuch", PYTHON=sys.executable)
    assert result.returncode == 1
    assert "demo FAILED: BACKEND must be sqlite or redis, not nosuch" in result.stderr
