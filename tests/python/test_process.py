"""Process-level behaviour: threads on the blocking Store, the GIL, fork, interpreter exit."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading
import time
import warnings
from typing import Any, Dict, List

import pytest

import omnisession
from omnisession import AsyncStore, Store

import exit_stress


def test_threads_call_the_blocking_store_at_once(backend: Dict[str, Any]) -> None:
    with Store.open(**backend) as store:
        s = store.create("u")
        errors: List[BaseException] = []

        def work(i: int) -> None:
            try:
                for j in range(25):
                    store.patch(s["id"], {f"t{i}": j})
                    assert store.get(s["id"]) is not None
                    store.create(f"user{i}")
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        assert store.get(s["id"])["data"] == {f"t{i}": 24 for i in range(8)}
        assert store.count() == 1 + 8 * 25


def test_blocking_calls_release_the_gil(redis_server: Any) -> None:
    """While a blocking call waits on a stalled Redis, other Python threads keep running."""
    with Store.open(backend="redis", url=redis_server.url, key_prefix="gil:") as store:
        s = store.create("u")
        with socket.create_connection(("127.0.0.1", redis_server.port)) as admin:
            admin.sendall(b"CLIENT PAUSE 600 ALL\r\n")  # every other client waits 0.6 s
            assert admin.recv(16).startswith(b"+OK")
            ticks = 0
            stop = threading.Event()

            def count() -> None:
                nonlocal ticks
                while not stop.is_set():
                    ticks += 1
                    time.sleep(0.001)

            counter = threading.Thread(target=count)
            counter.start()
            started = time.monotonic()
            assert store.get(s["id"]) is not None  # blocks ~0.6 s on the server
            waited = time.monotonic() - started
            stop.set()
            counter.join()
        assert waited > 0.3
        assert ticks > 50, f"only {ticks} ticks in {waited:.2f}s: the GIL was held"


def _wait_child(pid: int, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise AssertionError("the forked child hung")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX only")
@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_a_store_opened_after_fork_works_in_the_child(kind: str, tmp_path: Any, request: Any) -> None:
    from conftest import backend_options

    options = backend_options(kind, tmp_path, request)
    events: List[Any] = []
    with Store.open(**options, on_violation=events.append) as parent:  # runtime, threads, callbacks started
        before = parent.create("u", data={"from": "parent"})
        parent.get("bad")
        assert omnisession._native._flush_callbacks()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
            pid = os.fork()
        if pid == 0:  # the child: pre-fork server worker
            code = 1
            try:
                seen: List[Any] = []
                with Store.open(**options, on_violation=seen.append) as child:
                    s = child.create("u", data={"from": "child"})
                    assert child.get(before["id"])["data"] == {"from": "parent"}
                    child.get("bad")
                    assert omnisession._native._flush_callbacks(5)
                    assert [e["type"] for e in seen] == ["malformed_id"]

                async def amain() -> None:
                    a = await AsyncStore.open(**options)
                    got = await asyncio.gather(*(a.get(s["id"]) for _ in range(20)))
                    assert all(g is not None for g in got)
                    await a.close()

                asyncio.run(amain())
                code = 0
            except BaseException as e:  # noqa: BLE001
                print("child failed:", repr(e), file=sys.stderr)
            finally:
                os._exit(code)
        assert _wait_child(pid) == 0
        # The parent's store still works after the fork.
        assert len(parent.list_by_user_id("u")) == 2


def test_no_crash_at_interpreter_exit() -> None:
    result = exit_stress.measure(40)
    assert result["crashes"] == 0, result
