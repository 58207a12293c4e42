"""Fixtures: backends (memory, SQLite, a real redis-server started here), shared by the suites."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Any, Dict, Iterator

import pytest

import omnisession

_prefixes = itertools.count()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A redis-server on a free port, in its own temp dir, stopped by its PID."""

    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is needed: apt-get install -y redis-server (make deps)")
        self.dir = tempfile.mkdtemp(prefix="omnisession-redis-")
        for _ in range(5):
            self.port = free_port()
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--daemonize", "no", "--dir", self.dir, "--loglevel", "warning"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            if self._wait_ready():
                break
            self.stop()
        else:
            raise RuntimeError("redis-server did not start")
        self.url = f"redis://127.0.0.1:{self.port}"

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as c:
                    c.sendall(b"PING\r\n")
                    if c.recv(16).startswith(b"+PONG"):
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, 15)
            self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.stop()


BACKENDS = ["memory", "sqlite", "redis"]


def backend_options(kind: str, tmp_path: Any, request: pytest.FixtureRequest) -> Dict[str, Any]:
    """Options for a store over `kind`; stores opened with the same dict share one backend."""
    if kind == "memory":
        return {"backend": omnisession.MemoryBackend()}
    if kind == "sqlite":
        return {"backend": "sqlite", "path": str(tmp_path / "sessions.db")}
    if kind == "redis":
        server = request.getfixturevalue("redis_server")
        return {"backend": "redis", "url": server.url, "key_prefix": f"t{os.getpid()}-{next(_prefixes)}:"}
    raise ValueError(kind)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Any) -> Dict[str, Any]:
    return backend_options(request.param, tmp_path, request)
