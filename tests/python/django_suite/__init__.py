"""Django's own session tests (vendored in ``sessions_tests``) run against ``omnisession.django``
by ``test_django_sessions.py``; see README.md for where the files come from."""
