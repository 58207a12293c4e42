"""The asyncio stores compared: omnisession's AsyncStore and the Redis peers a FastAPI or
Starlette app would use instead. Each adapter has create/get/save/touch and, where the store
has them, rotate/delete_by_user_id; a missing method is an empty cell in the table."""

import json
import os
from typing import Any, Dict

import redis.asyncio as aioredis
from omnisession import AsyncStore
from starsessions.serializers import JsonSerializer
from starsessions.stores.redis import RedisStore

from measure import sid

DAY = 24 * 3600


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
        return cls(aioredis.Redis.from_url(ctx["redis_url"], max_connections=64), ctx["tag"])

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
        return cls(aioredis.Redis.from_url(ctx["redis_url"], max_connections=64), ctx["tag"])

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
