"""Delivery of violation events and log records from the native dispatcher thread.

Called by the native module with the GIL held, on its own dispatcher thread. Nothing here
may raise into the store: every failure is logged through the ``omnisession`` logger.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import threading
from typing import Any, Callable, Dict, Optional

logger = logging.getLogger("omnisession")

_private_loop: Optional[asyncio.AbstractEventLoop] = None
_background: Optional[asyncio.AbstractEventLoop] = None
_background_lock = threading.Lock()


def log(level: int, message: str) -> None:
    """A record from the core's ``tracing`` events."""
    if logger.isEnabledFor(level):
        logger.log(level, "%s", message)


def _report(exc: BaseException) -> None:
    logger.error(
        "on_violation callback raised %s; ignored", type(exc).__name__, exc_info=exc
    )


def _call(callback: Callable[[Dict[str, Any]], Any], event: Dict[str, Any]) -> None:
    """Runs a callback on the loop thread; schedules its coroutine if it returned one."""
    try:
        result = callback(event)
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            task.add_done_callback(_done)
    except Exception as exc:  # noqa: BLE001 - a callback never fails the store
        _report(exc)


def _done(task: "asyncio.Future[Any]") -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        _report(exc)


def _run_here(callback: Callable[[Dict[str, Any]], Any], event: Dict[str, Any]) -> None:
    """Runs a callback on the dispatcher thread (no event loop: the blocking Store)."""
    global _private_loop
    try:
        result = callback(event)
        if inspect.isawaitable(result):
            if _private_loop is None or _private_loop.is_closed():
                _private_loop = asyncio.new_event_loop()
            _private_loop.run_until_complete(result)
    except Exception as exc:  # noqa: BLE001
        _report(exc)


def deliver(
    callback: Callable[[Dict[str, Any]], Any],
    loop: Optional[asyncio.AbstractEventLoop],
    event: Dict[str, Any],
) -> None:
    """Hands one violation event to ``callback``, on ``loop`` when it still runs."""
    if loop is not None and not loop.is_closed():
        try:
            loop.call_soon_threadsafe(_call, callback, event)
            return
        except RuntimeError:
            pass  # closed in the meantime: run it here
    _run_here(callback, event)


def background_loop() -> asyncio.AbstractEventLoop:
    """An event loop on a daemon thread, for async custom-backend methods of a blocking Store."""
    global _background
    with _background_lock:
        if _background is None or _background.is_closed():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            threading.Thread(target=run, name="omnisession-backend-loop", daemon=True).start()
            ready.wait()
            _background = loop
        return _background


def _after_fork() -> None:
    global _background, _private_loop
    _background = None
    _private_loop = None


async def _await(awaitable: Any) -> Any:
    return await awaitable


def schedule(awaitable: Any, loop: asyncio.AbstractEventLoop) -> "concurrent.futures.Future[Any]":
    """Runs a custom backend's awaitable on ``loop`` from another thread."""
    coroutine = _await(awaitable)
    try:
        return asyncio.run_coroutine_threadsafe(coroutine, loop)
    except BaseException:
        coroutine.close()  # never scheduled: not "never awaited"
        if inspect.iscoroutine(awaitable):
            awaitable.close()
        raise
