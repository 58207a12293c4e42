"""The FastAPI half of the demo: omnisession.starlette.SessionMiddleware and its login helper.

Started by run.mjs with PORT and the store location (BACKEND + SQLITE_PATH or REDIS_URL).
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any, Dict, List

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from omnisession import AsyncStore, SessionSizeExceededError
from omnisession.starlette import login

from express_cookie import ExpressCookieSessionMiddleware

SETTINGS = json.loads((Path(__file__).parent / "settings.json").read_text())


def build_app(store: AsyncStore, violations: List[Dict[str, Any]]) -> FastAPI:
    app = FastAPI()
    app.add_middleware(
        ExpressCookieSessionMiddleware,
        store=store,
        secret_keys=[SETTINGS["cookieSecret"]],
        cookie_name=SETTINGS["cookieName"],
        secure=False,  # plain HTTP on localhost; a real deployment keeps the Secure default
    )

    def user_of(request: Request) -> Any:
        return request.scope["omnisession"].user_id

    def not_signed_in() -> JSONResponse:
        return JSONResponse({"error": "not signed in"}, status_code=401)

    @app.get("/health")
    async def health() -> Dict[str, Any]:
        return {"ok": True}

    @app.post("/login")
    async def do_login(request: Request, user: str) -> Dict[str, Any]:
        await login(request, user)  # new id (fixation defence), the user attached and indexed
        # Where passport looks for the user, so the Express app sees this login too.
        request.session["passport"] = {"user": user}
        request.session["loggedInVia"] = "fastapi"
        return {"sessionId": request.scope["omnisession"].id}

    @app.get("/me")
    async def me(request: Request) -> Dict[str, Any]:
        user = user_of(request)
        data = {k: v for k, v in request.session.items() if k != "cookie"}  # "cookie": express-session's
        return {"user": user, "sessionId": None if user is None else request.scope["omnisession"].id, "data": data}

    @app.post("/cart")
    async def cart(request: Request, item: str) -> Any:
        if user_of(request) is None:
            return not_signed_in()
        request.session["cart"] = [*request.session.get("cart", []), item]
        return {"cart": request.session["cart"]}

    @app.post("/note")
    async def note(request: Request, size: int) -> Any:
        request.session["note"] = "x" * size
        try:
            # Saved now rather than after the handler, so the refusal can become a 413.
            await request.scope["omnisession"].flush()
        except SessionSizeExceededError as exc:
            del request.session["note"]  # nothing was stored; don't retry it on the way out
            return JSONResponse({"error": exc.code}, status_code=413)
        return {"ok": True}

    @app.get("/sessions")
    async def sessions(request: Request) -> Any:
        user = user_of(request)
        if user is None:
            return not_signed_in()
        return [
            {"id": s["id"], "loggedInVia": s["data"].get("loggedInVia"), "createdAt": s["created_at"].isoformat()}
            for s in await store.list_by_user_id(user)
        ]

    @app.post("/sessions/revoke")
    async def revoke(request: Request) -> Any:
        user = user_of(request)
        if user is None:
            return not_signed_in()
        return {"revoked": await store.delete_by_user_id(user)}

    @app.get("/violations")
    async def get_violations() -> List[Dict[str, Any]]:
        return violations

    return app


async def main() -> None:
    # Violations this process received; GET /violations shows them to the driver.
    violations: List[Dict[str, Any]] = []

    def on_violation(e: Dict[str, Any]) -> None:
        # The same shape as the Express app's list, for the driver.
        violations.append({"type": e["type"], "userId": e["user_id"], "size": e["size"], "limit": e["limit"]})

    backend = os.environ.get("BACKEND", "sqlite")
    location = {"url": os.environ["REDIS_URL"]} if backend == "redis" else {"path": os.environ["SQLITE_PATH"]}
    # Opened on the server's own loop: on_violation runs there.
    store = await AsyncStore.open(
        backend=backend,
        **location,
        allow_anonymous=True,  # the middleware creates a session before anyone logs in
        max_session_size=SETTINGS["maxSessionSize"],
        max_sessions_per_user=SETTINGS["maxSessionsPerUser"],
        default_ttl=SETTINGS["ttlSeconds"],
        on_violation=on_violation,
    )
    config = uvicorn.Config(build_app(store, violations), host="127.0.0.1", port=int(os.environ["PORT"]), log_level="warning")
    try:
        await uvicorn.Server(config).serve()  # returns on SIGTERM, sent by the driver
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
