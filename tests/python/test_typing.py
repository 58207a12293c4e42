"""The shipped types: _native.pyi matches the compiled module (mypy.stubtest), py.typed ships,
and the package type-checks (mypy) together with a typed usage example."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import omnisession

PACKAGE = pathlib.Path(omnisession.__file__).parent

USAGE = '''
import asyncio
from datetime import timedelta
from omnisession import AsyncStore, Store, SessionError

async def main() -> None:
    store = await AsyncStore.open(backend="memory", default_ttl=timedelta(hours=1))
    s = await store.create("alice", data={"cart": [1, 2]})
    got = await store.get(s["id"])
    if got is not None:
        n: int = got["version"]
        print(n, got["created_at"].isoformat())
    page = await store.list(limit=10)
    print(len(page["sessions"]), page["cursor"])
    await store.close()

def blocking() -> None:
    with Store.open(backend="sqlite", path="x.db") as store:
        try:
            store.touch("nope")
        except SessionError as e:
            print(e.code, e.details)
'''


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=300)


def test_stubs_match_the_compiled_module() -> None:
    r = run("mypy.stubtest", "omnisession._native")
    assert r.returncode == 0, r.stdout + r.stderr


def test_py_typed_ships() -> None:
    assert (PACKAGE / "py.typed").exists()
    assert (PACKAGE / "_native.pyi").exists()


def test_package_and_usage_type_check(tmp_path: pathlib.Path) -> None:
    usage = tmp_path / "usage.py"
    usage.write_text(USAGE)
    r = run("mypy", "--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"),
            "-p", "omnisession")
    assert r.returncode == 0, r.stdout + r.stderr
    r = run("mypy", "--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(usage))
    assert r.returncode == 0, r.stdout + r.stderr
    bad = tmp_path / "bad.py"
    bad.write_text("from omnisession import Store\nStore.open().get(1)\n")
    r = run("mypy", "--no-incremental", "--cache-dir", str(tmp_path / "cache2"), str(bad))
    assert r.returncode != 0 and "get" in r.stdout, r.stdout
