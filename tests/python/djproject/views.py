"""The request-cycle test app of tests/conformance/adapters.json (its "app" routes), written the
Django way, plus a user's sessions (omnisession.django.list_user_sessions/revoke_user_sessions)."""

import json
import threading
import time

from django.contrib.auth import login, logout
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from omnisession.django import get_store, list_user_sessions, revoke_user_sessions

# Set by /slow-set once it has read the session, so that a test starts what must overlap it then.
slow_set_loaded = threading.Event()


def ok() -> HttpResponse:
    return JsonResponse({"ok": True})


@require_GET
def whoami(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"user": request.user.get_username() if request.user.is_authenticated else None})


@require_GET
def get_value(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"value": request.session.get(request.GET["key"])})


@require_POST
def set_value(request: HttpRequest) -> HttpResponse:
    request.session[request.GET["key"]] = json.loads(request.GET["value"])
    return ok()


@require_POST
def slow_set(request: HttpRequest) -> HttpResponse:
    request.session.get(request.GET["key"])  # Django reads the session on first use: now
    slow_set_loaded.set()
    time.sleep(int(request.GET["ms"]) / 1000)
    request.session[request.GET["key"]] = json.loads(request.GET["value"])
    return ok()


@require_POST
def log_in(request: HttpRequest) -> HttpResponse:
    login(request, User.objects.get(username=request.GET["user"]))
    return ok()


@require_POST
def log_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return ok()


@require_POST
def expiry(request: HttpRequest) -> HttpResponse:
    request.session.set_expiry(int(request.GET["seconds"]))
    return ok()


@require_GET
def lifetime(request: HttpRequest) -> HttpResponse:
    key = request.session.session_key
    record = get_store().get(key) if key else None
    if record is None or record["expires_at"] is None:
        return JsonResponse({"expires_in_ms": None})
    return JsonResponse({"expires_in_ms": round((record["expires_at"] - timezone.now()).total_seconds() * 1000)})


@require_GET
def my_sessions(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"ids": [s["id"] for s in list_user_sessions(request.user)]})


@require_POST
def revoke_others(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"revoked": revoke_user_sessions(request.user, keep=request.session.session_key)})
