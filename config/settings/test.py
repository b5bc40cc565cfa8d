"""Tests: PostgreSQL when DATABASE_URL names it (make test does), fast hashing, no real mail."""

from .base import *  # noqa: F403
from .base import env

DEBUG = False
SECRET_KEY = "test-only-key"  # noqa: S105
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# In memory; a real worker process (tests that start one) writes files instead.
EMAIL_BACKEND = env.str(
    "CRM_TEST_EMAIL_BACKEND", default="django.core.mail.backends.locmem.EmailBackend"
)
EMAIL_FILE_PATH = env.str("CRM_TEST_EMAIL_FILE_PATH", default=str(VAR_DIR / "test-mail"))  # noqa: F405
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
# The suite makes far more calls a minute than a person: throttling has its own test
# (accounts/tests/test_throttling.py) with low rates. Counts stay in this process.
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"anon": "100000/min", "user": "100000/min"}  # noqa: F405
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
SESSION_ENGINE = "django.contrib.sessions.backends.db"  # the cache is this process's own
# CONTENT_SECURITY_POLICY, two-factor authentication and the login lockout are base.py's, as
# in production: every test, the browser ones included, runs under them.

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not memory, so a real Celery worker process in a test sees the same database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}  # noqa: F405
# Static files straight from the app folders, no collectstatic needed.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
