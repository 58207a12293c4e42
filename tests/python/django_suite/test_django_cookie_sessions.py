"""Django's own tests of its cookie engine (``CookieSessionTests``: ``SessionTestsMixin`` with
the overrides Django makes for ``signed_cookies``, vendored in ``sessions_tests/tests.py``) run
against ``omnisession.django_cookies``, the engine swapped and nothing else, plus the mixin's
tests that Django turns off for ``signed_cookies`` and that hold for sealed cookies; and
Django's ``SessionMiddlewareTests`` over this engine. README.md says what is adapted and why."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djproject.settings")

import django  # noqa: E402

django.setup()

from typing import Any  # noqa: E402

from django.contrib.sessions.middleware import SessionMiddleware  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.test import modify_settings, override_settings  # noqa: E402

from omnisession.django_cookies import SessionStore, get_sealer, reset_sealer  # noqa: E402

# As in test_django_sessions.py: imported as a module, so that Django's own backend classes
# (CookieSessionTests with signed_cookies, ...) are not collected here.
with modify_settings(INSTALLED_APPS={"append": "django_suite.sessions_tests"}):
    from .sessions_tests import tests as django_tests  # noqa: E402

Mixin = django_tests.SessionTestsMixin


class SealedCookieEngine:
    """Each test runs with SESSION_ENGINE = "omnisession.django_cookies" and a key ring of its
    own (a new key each time: no test can open another test's cookies)."""

    def setUp(self) -> None:
        override = override_settings(
            SESSION_ENGINE="omnisession.django_cookies",
            OMNISESSION_SEALED={"keys": [("suite", os.urandom(32))]},
        )
        override.enable()
        self.addCleanup(override.disable)  # type: ignore[attr-defined]
        reset_sealer()
        self.addCleanup(reset_sealer)  # type: ignore[attr-defined]
        super().setUp()  # type: ignore[misc]


class SealedCookieSessionTests(SealedCookieEngine, django_tests.CookieSessionTests):
    """Django's CookieSessionTests, the engine swapped. Its overrides for signed_cookies stay
    (test_save: no server-side key ever "exists"; the skipped store-only tests), except these,
    which Django turns off because signed_cookies fails them, and which pass here:"""

    backend = SessionStore

    # The expiry is sealed into the value, so a non-default expiry holds (Django's #19201,
    # an expectedFailure for signed_cookies).
    def test_actual_expiry(self) -> None:
        Mixin.test_actual_expiry(self)

    async def test_actual_expiry_async(self) -> None:
        await Mixin.test_actual_expiry_async(self)

    # cycle_key gives a new value (a fresh nonce) holding the same data.
    def test_cycle(self) -> None:
        Mixin.test_cycle(self)

    async def test_cycle_async(self) -> None:
        await Mixin.test_cycle_async(self)



class SealedCookieSessionMiddlewareTests(SealedCookieEngine, django_tests.SessionMiddlewareTests):
    """Django's SessionMiddlewareTests with this engine (Django runs them with its db engine
    only). Two of them name the db backend; here they are:"""

    # The db engine's save after a delete raises UpdateError; a cookie engine has no record a
    # parallel request could delete (signed_cookies does not raise it either).
    def test_session_update_error_redirect(self) -> None:
        self.skipTest("a cookie session has no server-side record to be deleted meanwhile")

    # Same body, the db lookup replaced by opening the cookie value.
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
        session = get_sealer().open(request.session.session_key)["session"]
        self.assertIsNotNone(session)
        self.assertEqual(session["data"], {})  # type: ignore[index]
        self.assertGreater(len(request.session.session_key), 8)
        self.assertIn(
            "Set-Cookie: sessionid=%s" % request.session.session_key,
            str(response.cookies),
        )
        self.assertEqual(response.headers["Vary"], "Cookie")
