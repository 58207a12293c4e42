"""Runs one README code block (a file path given as argv[1]) the way its host would.

A Django settings block configures Django with it and saves and loads a session through the
engine; a block that defines an ASGI ``app`` is served by uvicorn on a free port and each of its
routes is called over HTTP; any other block runs as a script.
"""

from __future__ import annotations

import importlib.util
import runpy
import socket
import sys
import threading
import time
from typing import Any, Dict


def load(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("readme_block", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_django(path: str) -> None:
    import django
    from django.conf import settings

    block: Dict[str, Any] = {k: v for k, v in vars(load(path)).items() if k.isupper()}
    settings.configure(
        SECRET_KEY="readme", USE_TZ=True,
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.sessions"], **block,
    )
    django.setup()
    from importlib import import_module

    engine = import_module(settings.SESSION_ENGINE)
    first = engine.SessionStore()
    first["cart"] = ["apple"]
    first.save()
    again = engine.SessionStore(session_key=first.session_key)
    assert again["cart"] == ["apple"], again.items()
    print("django engine: saved and loaded", len(first.session_key), "character key")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(app: Any) -> None:
    import httpx
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            # The app's own routes (framework routes such as /docs are not in the schema).
            for route in app.routes:
                if not getattr(route, "include_in_schema", False):
                    continue
                for method in sorted(getattr(route, "methods", None) or []):
                    if method == "HEAD" or "{" in route.path:
                        continue
                    response = client.request(method, route.path)
                    assert response.status_code == 200, (method, route.path, response.text)
                    print(method, route.path, response.status_code, response.json())
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def main(path: str) -> None:
    source = open(path, encoding="utf-8").read()
    if "SESSION_ENGINE" in source:
        run_django(path)
        return
    namespace = runpy.run_path(path, run_name="readme_block")
    if "app" in namespace and callable(namespace["app"]):
        serve(namespace["app"])


if __name__ == "__main__":
    main(sys.argv[1])
