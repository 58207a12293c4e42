"""backend= a Python object (sync or async methods): every control is still the core's."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Iterable, List, Optional, Tuple

import pytest

import omnisession
from omnisession import (
    AsyncStore,
    BackendError,
    BackendUnavailableError,
    ConfigInvalidError,
    Store,
)


class DictBackend:
    """Sync storage: records in a dict, as an app would write it."""

    def __init__(self) -> None:
        self.records: Dict[str, str] = {}
        self.expiry: Dict[str, Optional[datetime]] = {}
        self.fail: Optional[BaseException] = None
        self.calls: List[str] = []

    def _check(self, name: str) -> None:
        self.calls.append(name)
        if self.fail is not None:
            raise self.fail

    def get(self, id: str) -> Optional[str]:
        self._check("get")
        return self.records.get(id)

    def set(self, id: str, record: str, *, user_id: Optional[str], site_id: str, expires_at: Optional[datetime]) -> None:
        self._check("set")
        assert json.loads(record)["id"] == id
        assert expires_at is None or expires_at.tzinfo is not None
        self.records[id] = record
        self.expiry[id] = expires_at

    def delete(self, id: str) -> None:
        self._check("delete")
        self.records.pop(id, None)


class FullBackend(DictBackend):
    def list_by_user_id(self, site_id: str, user_id: str) -> Iterable[str]:
        self._check("list_by_user_id")
        return [r for r in self.records.values()
                if json.loads(r)["user_id"] == user_id and json.loads(r).get("site_id", "") == site_id]

    def list(self, cursor: Optional[str], limit: int) -> Tuple[List[str], Optional[str]]:
        self._check("list")
        ids = sorted(i for i in self.records if cursor is None or i > cursor)
        page = ids[:limit]
        return [self.records[i] for i in page], (page[-1] if len(ids) > limit else None)


class AsyncBackend:
    """Async storage over a FullBackend; each method yields to the loop first."""

    def __init__(self) -> None:
        self.inner = FullBackend()
        self.loops: set = set()

    async def _hop(self) -> None:
        self.loops.add(id(asyncio.get_running_loop()))
        await asyncio.sleep(0)

    async def get(self, id: str) -> Optional[str]:
        await self._hop()
        return self.inner.get(id)

    async def set(self, id: str, record: str, **meta: Any) -> None:
        await self._hop()
        self.inner.set(id, record, **meta)

    async def delete(self, id: str) -> None:
        await self._hop()
        self.inner.delete(id)

    async def list_by_user_id(self, site_id: str, user_id: str) -> Iterable[str]:
        await self._hop()
        return self.inner.list_by_user_id(site_id, user_id)

    async def list(self, cursor: Optional[str], limit: int) -> Tuple[List[str], Optional[str]]:
        await self._hop()
        return self.inner.list(cursor, limit)

    async def cleanup(self, now: datetime) -> int:
        await self._hop()
        assert now.tzinfo is not None
        gone = [i for i, e in self.inner.expiry.items() if e is not None and e < now and i in self.inner.records]
        for i in gone:
            self.inner.delete(i)
        return len(gone)


async def test_sync_backend_under_async_store() -> None:
    backend = FullBackend()
    store = await AsyncStore.open(backend=backend, max_sessions_per_user=2, site_id="a")
    first = await store.create("u", data={"n": 1})
    await store.create("u")
    await store.create("u")  # evicts the oldest
    assert await store.get(first["id"]) is None
    assert len(await store.list_by_user_id("u")) == 2
    assert len(backend.records) == 2
    assert all(json.loads(r)["site_id"] == "a" for r in backend.records.values())
    await store.close()


async def test_async_backend_under_async_store_runs_on_the_stores_loop() -> None:
    backend = AsyncBackend()
    store = await AsyncStore.open(backend=backend, max_sessions_per_user=1, eviction_policy="reject")
    s = await store.create("u", data={"a": 1})
    with pytest.raises(omnisession.SessionLimitExceededError):
        await store.create("u")
    p = await store.patch(s["id"], {"b": 2})
    assert p["data"] == {"a": 1, "b": 2}
    assert await store.count() == 1
    assert backend.loops == {id(asyncio.get_running_loop())}
    await store.close()


def test_async_backend_under_blocking_store() -> None:
    backend = AsyncBackend()
    clock = omnisession.ManualClock()
    with Store.open(backend=backend, clock=clock, default_ttl=10) as store:
        s = store.create("u", data={"a": 1})
        assert store.get(s["id"])["data"] == {"a": 1}
        store.create("v", ttl=100)
        clock.advance(11)
        assert store.cleanup() == 1  # the backend's own cleanup ran
        assert store.count() == 1


def test_controls_hold_over_a_custom_backend() -> None:
    events: List[Dict[str, Any]] = []
    backend = FullBackend()
    with Store.open(backend=backend, max_session_size=400, site_id="a", on_violation=events.append) as a, \
            Store.open(backend=backend, site_id="b", on_violation=events.append) as b:
        s = a.create("u")
        with pytest.raises(omnisession.SessionSizeExceededError):
            a.create("u", data={"x": "y" * 500})
        with pytest.raises(omnisession.SessionNotSerializableError):
            a.create("u", data={"x": {1, 2}})
        assert b.get(s["id"]) is None  # another site's: invisible
        assert b.count() == 0 and a.count() == 1
        a.delete(s["id"])
        with pytest.raises(omnisession.SessionConflictError):
            a.create("u", id=s["id"])  # tombstoned
        omnisession._native._flush_callbacks()
    assert [e["type"] for e in events] == ["size_exceeded", "not_serializable", "site_mismatch"]


def test_missing_optional_methods() -> None:
    with pytest.raises(ConfigInvalidError) as info:
        Store.open(backend=DictBackend(), max_sessions_per_user=3)
    assert info.value.details["option"] == "max_sessions_per_user"
    with Store.open(backend=DictBackend()) as store:
        store.create("u")
        with pytest.raises(ConfigInvalidError):
            store.count()
        with pytest.raises(ConfigInvalidError):
            store.list_by_user_id("u")


@pytest.mark.parametrize("missing", ["get", "set", "delete"])
def test_required_methods(missing: str) -> None:
    backend = FullBackend()
    setattr(backend, missing, None)
    with pytest.raises(ConfigInvalidError) as info:
        Store.open(backend=backend)
    assert missing in str(info.value)


async def test_a_backend_that_raises_is_backend_error_with_the_cause() -> None:
    backend = FullBackend()
    store = await AsyncStore.open(backend=backend)
    s = await store.create("u")
    backend.fail = ValueError("disk on fire")
    with pytest.raises(BackendError) as info:
        await store.get(s["id"])
    assert isinstance(info.value.__cause__, ValueError)
    assert "disk on fire" in str(info.value)
    with pytest.raises(BackendError) as info2:
        await store.patch(s["id"], {"k": 1})
    assert isinstance(info2.value.__cause__, ValueError)
    # A backend may signal unavailability with the package's own exception.
    backend.fail = BackendUnavailableError("db down")
    with pytest.raises(BackendUnavailableError) as info3:
        await store.get(s["id"])
    assert isinstance(info3.value.__cause__, BackendUnavailableError)
    backend.fail = None
    got = await store.get(s["id"])
    assert got is not None and got["data"] == {} and got["version"] == 1
    await store.close()


def test_a_backend_that_raises_under_blocking_store() -> None:
    backend = DictBackend()
    with Store.open(backend=backend) as store:
        backend.fail = KeyError("nope")
        with pytest.raises(BackendError) as info:
            store.create("u")
        assert isinstance(info.value.__cause__, KeyError)


@pytest.mark.parametrize("value", [42, ["x"], "not json", b"{}", json.dumps({"id": 1})])
def test_wrong_results_are_backend_error(value: Any) -> None:
    backend = DictBackend()
    backend.get = lambda id: value  # type: ignore[method-assign]
    with Store.open(backend=backend) as store:
        with pytest.raises(BackendError) as info:
            store.get("A" * 43)
        assert "session_id_hash" in info.value.details or "returned" in str(info.value)


def test_unreadable_records_in_listings_are_skipped() -> None:
    backend = FullBackend()
    with Store.open(backend=backend) as store:
        s = store.create("u")
        backend.records["garbage" * 5] = "{not json"
        assert [x["id"] for x in store.list()["sessions"]] == [s["id"]]
        assert store.count() == 1


def test_threads_share_a_custom_backend() -> None:
    backend = FullBackend()
    lock = threading.Lock()
    orig_set = backend.set

    def locked_set(*a: Any, **k: Any) -> None:
        with lock:
            orig_set(*a, **k)

    backend.set = locked_set  # type: ignore[method-assign]
    with Store.open(backend=backend) as store:
        s = store.create("u")
        errors: List[BaseException] = []

        def work(i: int) -> None:
            try:
                for j in range(10):
                    store.patch(s["id"], {f"k{i}": j})
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert store.get(s["id"])["data"] == {f"k{i}": 9 for i in range(6)}


def test_expires_at_is_the_effective_expiry() -> None:
    backend = FullBackend()
    clock = omnisession.ManualClock(datetime(2030, 1, 1, tzinfo=timezone.utc))
    with Store.open(backend=backend, clock=clock, default_ttl=3600, idle_timeout=60) as store:
        s = store.create("u")
        assert backend.expiry[s["id"]] == datetime(2030, 1, 1, 0, 1, tzinfo=timezone.utc)
        forever = store.create("u", expires_at="never")
        assert backend.expiry[forever["id"]] == datetime(2030, 1, 1, 0, 1, tzinfo=timezone.utc)
    with Store.open(backend=backend, clock=clock, default_ttl=0) as store:
        s = store.create("u")
        assert backend.expiry[s["id"]] is None


def test_async_backend_whose_event_loop_is_gone() -> None:
    backend = AsyncBackend()

    async def open_store() -> AsyncStore:
        return await AsyncStore.open(backend=backend)

    store = asyncio.run(open_store())  # that loop is closed when run() returns

    async def use() -> None:
        with pytest.raises(BackendError) as info:
            await store.create("u")
        assert isinstance(info.value.__cause__, RuntimeError)  # "Event loop is closed"
        await store.close()

    asyncio.run(use())  # no "coroutine was never awaited" warning (warnings are errors)
