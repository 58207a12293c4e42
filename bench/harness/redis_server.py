"""A throwaway redis-server on a free port, stopped by its own PID: the bench never touches a
Redis it did not start."""

import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from typing import Iterator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def redis_server(*extra: str) -> Iterator[int]:
    port = free_port()
    # A directory of its own: a replica's full sync writes an RDB file even with `--save ""`.
    workdir = tempfile.TemporaryDirectory(prefix="omnisession-bench-redis-")
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--daemonize", "no", "--loglevel", "warning", "--dir", workdir.name, *extra],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 10
        while subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout.strip() != b"PONG":
            if time.time() > deadline or proc.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        workdir.cleanup()


@contextmanager
def replicated_redis() -> Iterator[int]:
    """A master with one replica in sync (for the writes that wait for replicas); yields the
    master's port. Separate from the main server, whose scenarios must not pay for a replica."""
    with redis_server() as master, redis_server("--replicaof", "127.0.0.1", str(master)) as replica:
        deadline = time.time() + 20
        while b"master_link_status:up" not in subprocess.run(
                ["redis-cli", "-p", str(replica), "info", "replication"], capture_output=True).stdout:
            if time.time() > deadline:
                raise RuntimeError("the replica did not sync")
            time.sleep(0.05)
        yield master
