"""Fixtures: backends (memory, SQLite, a real redis-server started here), an ASGI app under a
real uvicorn, and the Django test project's database, shared by the suites."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import threading
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


class Uvicorn:
    """An ASGI app served by uvicorn on 127.0.0.1 (a free port), on a thread of its own."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(),
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.server.config.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)


@pytest.fixture(scope="session")
def django_db() -> None:
    """tests/python/djproject's database, migrated, with the users alice and bob (password "pw").
    The test module has called django.setup() on djproject.settings."""
    from django.contrib.auth.models import User
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    for name in ("alice", "bob"):
        User.objects.create_user(name, password="pw")
