"""The FastAPI half of the demo: omnisession.starlette.SessionMiddleware and its login helper,
and the "active devices" page (GET /devices, devices_page.py).

Started by run.mjs with PORT and the store location (BACKEND + SQLITE_PATH or REDIS_URL).
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional
from urllib.parse import parse_qs

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from omnisession import AsyncStore, SessionSizeExceededError
from omnisession.starlette import login, logout

from devices_page import devices_page, session_of_handle, sign_in_page, valid_user
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
        # Each session records its User-Agent; the address only because this demo opts in (personal data).
        record_ip_address=SETTINGS["recordIpAddress"],
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

    # The "active devices" page (devices_page.py): forms POST, then a 303 back to GET /devices. The
    # cookie is SameSite=Lax, so another site's form cannot post here with it (no CSRF token for
    # the demo); a revoked device finds no session on its next request and gets the sign-in form.
    async def form_field(request: Request, name: str) -> Optional[str]:
        # Parsed here rather than with Form(...), which needs python-multipart for a urlencoded body.
        body = await request.body()
        values = parse_qs(body[:2048].decode("utf-8", "replace")).get(name)
        return values[0] if values else None

    def back_to_devices() -> RedirectResponse:
        return RedirectResponse("/devices", status_code=303)

    def current_id(request: Request) -> Optional[str]:
        # As listings name sessions: by their ids at rest (the ids themselves unless the store
        # hashes them); delete_at_rest ends one.
        session_id = request.scope["omnisession"].id
        return None if session_id is None else store.id_at_rest(session_id)

    @app.get("/devices", response_class=HTMLResponse)
    async def devices(request: Request) -> Any:
        user = user_of(request)
        if user is None:
            return HTMLResponse(sign_in_page("fastapi"))
        sessions = await store.list_by_user_id(user)
        return HTMLResponse(devices_page("fastapi", SETTINGS["cookieSecret"], user, sessions, current_id(request)))

    @app.post("/devices/login")
    async def devices_login(request: Request) -> Any:
        user = await form_field(request, "user")
        if user is None or not valid_user(user):
            error = 'A user name is 1 to 64 letters, digits, ".", "_" or "-".'
            return HTMLResponse(sign_in_page("fastapi", error), status_code=400)
        await login(request, user)
        request.session["passport"] = {"user": user}  # where the Express app looks for the user
        request.session["loggedInVia"] = "fastapi"
        return back_to_devices()

    @app.post("/devices/revoke")
    async def devices_revoke(request: Request) -> Any:
        # One device, named by its handle: only among this user's other sessions.
        user = user_of(request)
        if user is not None:
            others = [s for s in await store.list_by_user_id(user) if s["id"] != current_id(request)]
            target = session_of_handle(SETTINGS["cookieSecret"], others, await form_field(request, "device"))
            if target is not None:
                await store.delete_at_rest(target["id"])
        return back_to_devices()

    @app.post("/devices/revoke-others")
    async def devices_revoke_others(request: Request) -> Any:
        user = user_of(request)
        if user is not None:
            for s in await store.list_by_user_id(user):
                if s["id"] != current_id(request):
                    await store.delete_at_rest(s["id"])
        return back_to_devices()

    @app.post("/devices/logout")
    async def devices_logout(request: Request) -> Any:
        await logout(request)
        return back_to_devices()

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
