"""A minimal Django project using omnisession as its session engine (tests)."""

import os
import tempfile

SECRET_KEY = "omnisession-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
USE_TZ = True
ROOT_URLCONF = "djproject.urls"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(tempfile.mkdtemp(prefix="omnisession-django-"), "db.sqlite3"),
    }
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SESSION_ENGINE = "omnisession.django"
OMNISESSION = {
    "backend": "sqlite",
    "path": os.path.join(tempfile.mkdtemp(prefix="omnisession-django-"), "sessions.db"),
    "max_sessions_per_user": 3,
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
