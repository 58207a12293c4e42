"""Fixtures of the interop suite: one backend (a SQLite file or a key prefix on a redis-server of
our own) shared by peer processes in Node and Python, and the Go program (omnistorage-core's
own session store, built from the real library) where go exists.

Not a conftest.py: the Python suite's modules import names from `conftest`, and a second
conftest module would shadow theirs when both directories run in one pytest session.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import json
import os
import select
import shutil
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ANSWER_TIMEOUT = 60.0


def _python_suite_conftest() -> Any:
    # The redis-server launcher lives in the Python suite's conftest; load it under a name of its
    # own so that both suites can run in one pytest session.
    path = ROOT / "tests" / "python" / "conftest.py"
    spec = importlib.util.spec_from_file_location("_omnisession_python_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RedisServer = _python_suite_conftest().RedisServer
_prefixes = itertools.count()

COMMANDS = {
    "node": ["node", str(HERE / "peer.mjs")],
    "python": [sys.executable, str(HERE / "peer.py")],
}


class Peer:
    """A store in its own process (peer.mjs or peer.py); `peer(op, *args)` is one request."""

    def __init__(self, lang: str, options: Dict[str, Any], log: Path) -> None:
        self.lang = lang
        self.log = log
        with open(log, "wb") as stderr:
            # cwd = repo root: the npm package resolves `omnisession` to itself from there.
            self.proc = subprocess.Popen(
                COMMANDS[lang] + [json.dumps(options)], cwd=ROOT, text=True, encoding="utf-8",
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
            )
        try:
            ready = self.receive()
            assert ready == {"ready": True}, f"{lang} peer did not open {options}: {ready}"
        except BaseException:
            self.proc.kill()
            self.proc.communicate()
            raise

    def send(self, op: str, *args: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps([op, *args]) + "\n")
        self.proc.stdin.flush()

    def receive(self) -> Any:
        assert self.proc.stdout is not None
        readable, _, _ = select.select([self.proc.stdout], [], [], ANSWER_TIMEOUT)
        line = self.proc.stdout.readline() if readable else ""
        if not line:
            raise AssertionError(f"{self.lang} peer gave no answer:\n{self.log.read_text(errors='replace')}")
        return json.loads(line)

    def __call__(self, op: str, *args: Any) -> Any:
        self.send(op, *args)
        return self.receive()

    def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            code = self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            if self.proc.stdout is not None:
                self.proc.stdout.close()
        assert code == 0, f"{self.lang} peer exited with {code}:\n{self.log.read_text(errors='replace')}"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Any]:
    server = RedisServer()
    yield server
    server.stop()


class Backend:
    """One storage that every peer of a test opens: its options and a raw view of its records."""

    def __init__(self, kind: str, options: Dict[str, Any], port: Optional[int] = None) -> None:
        self.kind = kind
        self.options = options
        self.port = port

    def raw(self, id: str) -> Optional[bytes]:
        """The stored record of `id`, as bytes, read without omnisession."""
        if self.kind == "sqlite":
            with contextlib.closing(sqlite3.connect(self.options["path"])) as db:
                row = db.execute("SELECT record FROM sessions WHERE id = ?", (id,)).fetchone()
            return None if row is None else row[0].encode()
        assert self.port is not None
        return redis_get(self.port, self.options["key_prefix"] + id)


def redis_get(port: int, key: str) -> Optional[bytes]:
    """GET over RESP: enough to read a record without a client library."""
    k = key.encode()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn, conn.makefile("rb") as f:
        conn.sendall(b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(k), k))
        head = f.readline()
        if head.startswith(b"$-1"):
            return None
        assert head.startswith(b"$"), head
        return f.read(int(head[1:]))


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return Backend("sqlite", {"backend": "sqlite", "path": str(tmp_path / "sessions.db")})
    return redis_backend(request)


def redis_backend(request: pytest.FixtureRequest) -> Backend:
    server = request.getfixturevalue("redis_server")
    # A prefix per test: tests share the server, never a key.
    prefix = f"interop{os.getpid()}-{next(_prefixes)}:"
    return Backend("redis", {"backend": "redis", "url": server.url, "key_prefix": prefix}, server.port)


@pytest.fixture
def redis_only(request: pytest.FixtureRequest) -> Backend:
    return redis_backend(request)


@pytest.fixture
def open_peer(tmp_path: Path) -> Iterator[Callable[..., Peer]]:
    """`open_peer(lang, backend, **options)`: a peer over `backend`, closed (exit 0) at teardown."""
    peers: List[Peer] = []

    def start(lang: str, backend: Backend, **options: Any) -> Peer:
        peer = Peer(lang, {**backend.options, **options}, tmp_path / f"{lang}-{len(peers)}.log")
        peers.append(peer)
        return peer

    yield start
    failures = []
    for peer in peers:  # every one, even after a failure: no process outlives its test
        try:
            peer.close()
        except Exception as exc:
            failures.append(f"{peer.lang}: {exc}")
    assert not failures, "\n".join(failures)


# The real omnistorage-core (the Go module proxy does not serve it): a checkout named by
# OMNISTORAGE_CORE_DIR, or else the one beside the repository that go/go.mod's replace names.
BESIDE = ROOT.parent / "shared" / "vendor" / "omnistorage-core"


def omnistorage_core(tmp: Path) -> Dict[str, str]:
    """The environment `go build` needs to build go/ against the real library; fails the test
    (never skips it) when go exists and no checkout does."""
    named = os.environ.get("OMNISTORAGE_CORE_DIR")
    if named:
        src = Path(named).resolve()
        if not (src / "go.mod").is_file():
            pytest.fail(f"OMNISTORAGE_CORE_DIR={named} holds no go.mod: not a checkout of omnistorage-core")
        # A go.work's replace takes precedence over go/go.mod's.
        work = tmp / "go.work"
        work.write_text(f"go 1.26.0\n\nuse {HERE / 'go'}\n\n"
                        f"replace github.com/plexusone/omnistorage-core => {src}\n")
        return {"GOWORK": str(work)}
    if not (BESIDE / "go.mod").is_file():
        pytest.fail("the Go interop tests build on the real omnistorage-core v0.5.1, which the Go "
                    f"module proxy does not serve: check it out at {BESIDE} or name a checkout "
                    "with OMNISTORAGE_CORE_DIR")
    return {"GOWORK": "off"}


@pytest.fixture(scope="session")
def go_program(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Any]:
    """`go_program(cmd, *args, env={...})`: runs tests/interop/go (omnistorage-core's own
    session store); its stdout, stripped. `env` sets the Go side's session.Config."""
    if shutil.which("go") is None:
        pytest.skip("go is not installed (optional)")
    tmp = tmp_path_factory.mktemp("go")
    binary = tmp / "interop"
    build = subprocess.run(["go", "build", "-o", str(binary), "."], cwd=HERE / "go",
                           capture_output=True, text=True, timeout=600,
                           env={**os.environ, **omnistorage_core(tmp)})
    assert build.returncode == 0, f"go build of tests/interop/go failed:\n{build.stderr}"

    def run(*args: str, env: Optional[Dict[str, str]] = None) -> Any:
        # TZ=UTC: Go writes time.Time in the local zone; UTC makes its output comparable as text.
        done = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "TZ": "UTC", **(env or {})})
        assert done.returncode == 0, f"interop {args}: {done.stderr}"
        return done.stdout.strip()

    return run
