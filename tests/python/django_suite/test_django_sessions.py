"""Django's own session tests (``SessionTestsMixin``, ``SessionMiddlewareTests``, vendored from
Django in ``sessions_tests/tests.py``) run against ``omnisession.django`` over the memory, SQLite
and Redis backends, the way third-party session backends run them. README.md says what is
adapted and why; no test is skipped or marked xfail."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from typing import Any, Dict

import pytest

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djproject.settings")

import django  # noqa: E402

django.setup()

from django.contrib.sessions.exceptions import SessionInterrupted  # noqa: E402
from django.contrib.sessions.middleware import SessionMiddleware  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.test import SimpleTestCase, modify_settings, override_settings  # noqa: E402

import omnisession  # noqa: E402
from omnisession.django import SessionStore, get_store, reset_store  # noqa: E402

# Django's tests.py imports its custom session model (sessions_tests/models.py), which needs its
# app installed: installed only while importing. Imported as a module, not by name, so that
# Django's own backend classes (DatabaseSessionTests, ...) are not collected here.
with modify_settings(INSTALLED_APPS={"append": "django_suite.sessions_tests"}):
    from .sessions_tests import tests as django_tests  # noqa: E402

_prefixes = itertools.count()


class OmnisessionEngine:
    """Each test runs with SESSION_ENGINE = "omnisession.django" on a fresh backend.

    Cleanups, not tearDown: Django's mixin deletes its session in a cleanup, which runs after
    tearDown and must still reach this test's backend (cleanups run last-in, first-out)."""

    def omnisession_options(self) -> Dict[str, Any]:
        raise NotImplementedError

    def setUp(self) -> None:
        override = override_settings(
            SESSION_ENGINE="omnisession.django", OMNISESSION=self.omnisession_options()
        )
        override.enable()
        self.addCleanup(override.disable)  # type: ignore[attr-defined]
        reset_store()
        self.addCleanup(reset_store)  # type: ignore[attr-defined]
        super().setUp()  # type: ignore[misc]


class Memory(OmnisessionEngine):
    def omnisession_options(self) -> Dict[str, Any]:
        return {"backend": omnisession.MemoryBackend()}


class Sqlite(OmnisessionEngine):
    def omnisession_options(self) -> Dict[str, Any]:
        folder = tempfile.mkdtemp(prefix="omnisession-django-suite-")
        self.addCleanup(shutil.rmtree, folder, True)  # type: ignore[attr-defined]
        return {"backend": "sqlite", "path": os.path.join(folder, "sessions.db")}


@pytest.fixture(scope="class")
def redis_url(request: pytest.FixtureRequest, redis_server: Any) -> None:
    """The real redis-server of conftest.py (RedisServer), shared by the session."""
    request.cls.redis_url = redis_server.url  # type: ignore[union-attr]


@pytest.mark.usefixtures("redis_url")
class Redis(OmnisessionEngine):
    redis_url: str

    def omnisession_options(self) -> Dict[str, Any]:
        prefix = f"django-suite-{os.getpid()}-{next(_prefixes)}:"
        return {"backend": "redis", "url": self.redis_url, "key_prefix": prefix}


# -- SessionTestsMixin: the session store API ----------------------------------------------


class MemorySessionTests(Memory, django_tests.SessionTestsMixin, SimpleTestCase):
    backend = SessionStore


class SqliteSessionTests(Sqlite, django_tests.SessionTestsMixin, SimpleTestCase):
    backend = SessionStore


class RedisSessionTests(Redis, django_tests.SessionTestsMixin, SimpleTestCase):
    backend = SessionStore


# -- SessionMiddlewareTests: the engine behind Django's SessionMiddleware ------------------


class OurEngineInPlaceOfDb:
    """The two tests of Django's SessionMiddlewareTests that name the db backend, with our
    engine in its place (same bodies, only those lines changed). Not a TestCase itself, so
    that it is not collected on its own."""

    request_factory: Any

    def test_session_update_error_redirect(self) -> None:
        def response_delete_session(request: Any) -> HttpResponse:
            request.session = SessionStore()  # Django: DatabaseSession()
            request.session.save(must_create=True)
            request.session.delete()
            return HttpResponse()

        request = self.request_factory.get("/foo/")
        middleware = SessionMiddleware(response_delete_session)

        msg = (
            "The request's session was deleted before the request completed. "
            "The user may have logged out in a concurrent request, for example."
        )
        with self.assertRaisesMessage(SessionInterrupted, msg):
            middleware(request)

    def test_empty_session_saved(self) -> None:
        def response_set_session(request: Any) -> HttpResponse:
            request.session["foo"] = "bar"
            return HttpResponse("Session test")

        request = self.request_factory.get("/")
        middleware = SessionMiddleware(response_set_session)

        response = middleware(request)
        self.assertEqual(tuple(request.session.items()), (("foo", "bar"),))
        self.assertIn(
            "Set-Cookie: sessionid=%s" % request.session.session_key,
            str(response.cookies),
        )
        self.assertEqual(response.headers["Vary"], "Cookie")

        del request.session["foo"]
        response = HttpResponse("Session test")
        response = middleware.process_response(request, response)
        self.assertEqual(dict(request.session.values()), {})
        # Django: Session.objects.get(session_key=...).get_decoded() == {}
        record = get_store().get(request.session.session_key)
        self.assertIsNotNone(record)
        self.assertEqual(record["data"], {})  # type: ignore[index]
        self.assertGreater(len(request.session.session_key), 8)
        self.assertIn(
            "Set-Cookie: sessionid=%s" % request.session.session_key,
            str(response.cookies),
        )
        self.assertEqual(response.headers["Vary"], "Cookie")


class MemorySessionMiddlewareTests(Memory, OurEngineInPlaceOfDb, django_tests.SessionMiddlewareTests):
    pass


class SqliteSessionMiddlewareTests(Sqlite, OurEngineInPlaceOfDb, django_tests.SessionMiddlewareTests):
    pass


class RedisSessionMiddlewareTests(Redis, OurEngineInPlaceOfDb, django_tests.SessionMiddlewareTests):
    pass
