import json

from django.contrib.auth import authenticate, login, logout
from django.http import HttpRequest, HttpResponse, JsonResponse

from omnisession.django import list_user_sessions, revoke_user_sessions


def set_value(request: HttpRequest) -> HttpResponse:
    request.session[request.GET["k"]] = json.loads(request.GET["v"])
    return JsonResponse({"ok": True})


def get_values(request: HttpRequest) -> HttpResponse:
    return JsonResponse({k: v for k, v in request.session.items() if not k.startswith("_")})


def do_login(request: HttpRequest) -> HttpResponse:
    user = authenticate(request, username=request.POST["username"], password=request.POST["password"])
    if user is None:
        return JsonResponse({"ok": False}, status=401)
    login(request, user)
    return JsonResponse({"ok": True})


def do_logout(request: HttpRequest) -> HttpResponse:
    logout(request)
    return JsonResponse({"ok": True})


def whoami(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"user": request.user.get_username() if request.user.is_authenticated else None})


def my_sessions(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"ids": [s["id"] for s in list_user_sessions(request.user)]})


def revoke_others(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"revoked": revoke_user_sessions(request.user, keep=request.session.session_key)})
