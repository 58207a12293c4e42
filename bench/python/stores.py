"""The asyncio stores compared: omnisession's AsyncStore and the peers a FastAPI or Starlette app
would use instead, each in its fastest supported configuration: redis-py (raw, and under
starsessions) parsing replies with hiredis, and a stdlib sqlite3 store on a worker thread in WAL
mode. Each adapter has create/get/save/touch and, where the store has them,
rotate/delete_by_user_id; a missing method is an empty cell in the table."""

import asyncio
import json
import os
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict

import redis.asyncio as aioredis
import redis.asyncio.connection
from omnisession import AsyncStore
from starsessions.serializers import JsonSerializer
from starsessions.stores.redis import RedisStore

from measure import sid

DAY = 24 * 3600


def redis_client(url: str) -> aioredis.Redis:
    """A redis-py asyncio client with the hiredis reply parser (redis-py picks it when hiredis is
    installed; a bench without it would quietly measure the slower pure-Python parser)."""
    parser = redis.asyncio.connection.DefaultParser
    if "Hiredis" not in parser.__name__:
        raise SystemExit(f"redis-py would parse with {parser.__name__}: pip install -r bench/requirements.txt (hiredis)")
    return aioredis.Redis.from_url(url, max_connections=64, parser_class=parser)


class Omni:
    def __init__(self, store: AsyncStore) -> None:
        self.store = store

    @classmethod
    async def open(cls, backend: str, ctx: Dict[str, Any]) -> "Omni":
        where = {
            "memory": {},
            "sqlite": {"path": os.path.join(ctx["tmp"], f"py-omni-{ctx['tag']}.db")},
            "redis": {"url": ctx["redis_url"], "key_prefix": f"pyomni:{ctx['tag']}:"},
        }[backend]
        return cls(await AsyncStore.open(backend=backend, cleanup_interval=0, **where))

    async def create(self, i: int, data: Dict[str, Any]) -> Dict[str, str]:
        s = await self.store.create(f"u-{i}", data=data)
        return {"id": s["id"], "user": f"u-{i}"}

    def get(self, id: str) -> Any:
        return self.store.get(id)

    def save(self, id: str, i: int) -> Any:
        return self.store.patch(id, {"counter": i})

    def touch(self, id: str) -> Any:
        return self.store.touch(id)

    def rotate(self, id: str) -> Any:
        return self.store.rotate(id)

    def delete_by_user_id(self, user: str) -> Any:
        return self.store.delete_by_user_id(user)

    async def close(self) -> None:
        await self.store.close()


class RawRedis:
    """redis-py asyncio with no session logic: GET + json.loads, SET EX, EXPIRE, RENAME."""

    def __init__(self, client: aioredis.Redis, tag: str) -> None:
        self.client, self.prefix, self.held = client, f"pyraw:{tag}:", {}

    @classmethod
    async def open(cls, _backend: str, ctx: Dict[str, Any]) -> "RawRedis":
        return cls(redis_client(ctx["redis_url"]), ctx["tag"])

    async def create(self, i: int, data: Dict[str, Any]) -> Dict[str, str]:
        id = sid()
        sess = {**data, "user_id": f"u-{i}"}
        await self.client.set(self.prefix + id, json.dumps(sess), ex=DAY)
        self.held[id] = sess
        return {"id": id, "user": f"u-{i}"}

    async def get(self, id: str) -> Any:
        raw = await self.client.get(self.prefix + id)
        return None if raw is None else json.loads(raw)

    def save(self, id: str, i: int) -> Any:
        sess = self.held[id]
        sess["counter"] = i
        return self.client.set(self.prefix + id, json.dumps(sess), ex=DAY)

    def touch(self, id: str) -> Any:
        return self.client.expire(self.prefix + id, DAY)

    def rotate(self, id: str) -> Any:
        return self.client.rename(self.prefix + id, self.prefix + sid())

    async def close(self) -> None:
        await self.client.aclose()


class Starsessions:
    """starsessions' RedisStore with its JsonSerializer, as its middleware calls them. It has no
    touch (the middleware rewrites the whole session), no rotate and no per-user index."""

    def __init__(self, client: aioredis.Redis, tag: str) -> None:
        self.client = client
        self.store = RedisStore(connection=client, prefix=f"star:{tag}:")
        self.ser, self.held = JsonSerializer(), {}

    @classmethod
    async def open(cls, _backend: str, ctx: Dict[str, Any]) -> "Starsessions":
        return cls(redis_client(ctx["redis_url"]), ctx["tag"])

    async def create(self, i: int, data: Dict[str, Any]) -> Dict[str, str]:
        id = sid()
        sess = {**data, "user_id": f"u-{i}"}
        await self.store.write(id, self.ser.serialize(sess), lifetime=DAY, ttl=DAY)
        self.held[id] = sess
        return {"id": id, "user": f"u-{i}"}

    async def get(self, id: str) -> Any:
        raw = await self.store.read(id, lifetime=DAY)
        return self.ser.deserialize(raw) if raw else None

    def save(self, id: str, i: int) -> Any:
        sess = self.held[id]
        sess["counter"] = i
        return self.store.write(id, self.ser.serialize(sess), lifetime=DAY, ttl=DAY)

    async def close(self) -> None:
        await self.client.aclose()


class Sqlite3:
    """A session store on the stdlib sqlite3 module, as an asyncio app without an async driver
    writes it: each call runs on a worker thread (aiosqlite's model, without its queue in front),
    so the event loop never blocks on the file. The same settings as omnisession's SQLite backend
    (WAL, synchronous=NORMAL), one connection per worker thread, statements prepared once (the
    module's statement cache), autocommit. A user_id column gives deleteByUserId something to
    compare against. THREADS workers, each with its connection (WAL lets them read at once): on 2
    cores, 2 were up to 1.3x faster than 1 at 64 in flight and as fast as 4."""

    THREADS = 2
    GET = "SELECT sess FROM sessions WHERE sid = ? AND expires > ?"
    SET = "INSERT OR REPLACE INTO sessions (sid, user_id, sess, expires) VALUES (?, ?, ?, ?)"

    def __init__(self, path: str, threads: int) -> None:
        self.path, self.local, self.held = path, threading.local(), {}
        self.conns: list = []
        db = self._connect()
        db.executescript(
            "CREATE TABLE IF NOT EXISTS sessions (sid TEXT PRIMARY KEY, user_id TEXT, sess TEXT NOT NULL,"
            " expires INTEGER NOT NULL);"
            "CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id);"
            "CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires);"
        )
        db.close()
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="sqlite3-store")

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        return db

    def _db(self) -> sqlite3.Connection:
        db = getattr(self.local, "db", None)
        if db is None:
            db = self.local.db = self._connect()
            self.conns.append(db)
        return db

    def _run(self, fn: Any, *args: Any) -> Any:
        return asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    @classmethod
    async def open(cls, _backend: str, ctx: Dict[str, Any]) -> "Sqlite3":
        return cls(os.path.join(ctx["tmp"], f"py-sqlite3-{ctx['tag']}.db"), ctx.get("threads", cls.THREADS))

    def _write(self, id: str, sess: Dict[str, Any]) -> None:
        self._db().execute(self.SET, (id, sess["user_id"], json.dumps(sess), int(time.time() * 1000) + DAY * 1000))

    def _get(self, id: str) -> Any:
        row = self._db().execute(self.GET, (id, int(time.time() * 1000))).fetchone()
        return None if row is None else json.loads(row[0])

    async def create(self, i: int, data: Dict[str, Any]) -> Dict[str, str]:
        id = sid()
        sess = {**data, "user_id": f"u-{i}"}
        await self._run(self._write, id, sess)
        self.held[id] = sess
        return {"id": id, "user": f"u-{i}"}

    def get(self, id: str) -> Any:
        return self._run(self._get, id)

    def save(self, id: str, i: int) -> Any:
        sess = self.held[id]
        sess["counter"] = i
        return self._run(self._write, id, sess)

    def touch(self, id: str) -> Any:
        return self._run(lambda: self._db().execute("UPDATE sessions SET expires = ? WHERE sid = ?",
                                                    (int(time.time() * 1000) + DAY * 1000, id)))

    def rotate(self, id: str) -> Any:
        return self._run(lambda: self._db().execute("UPDATE sessions SET sid = ? WHERE sid = ?", (sid(), id)))

    def delete_by_user_id(self, user: str) -> Any:
        return self._run(lambda: self._db().execute("DELETE FROM sessions WHERE user_id = ?", (user,)).rowcount)

    async def close(self) -> None:
        self.pool.shutdown(wait=True)
        for db in self.conns:
            db.close()
