"""Production (docker compose, gunicorn). Refuses to start without DJANGO_SECRET_KEY."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY")  # no default: ImproperlyConfigured when unset
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")

# TLS ends at the reverse proxy, which says so in X-Forwarded-Proto (it must set or strip that
# header: a client could send it too). Plain HTTP is redirected to HTTPS.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # health checks speak plain HTTP inside the network
# Cookies only over HTTPS; none of them readable by JavaScript (base.py: HttpOnly).
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
LANGUAGE_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
# The preload directive alone changes nothing: browsers preload a domain only once its owner
# submits it at hstspreload.org. Set to false for a domain that must never be listed.
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"  # and the CSP's frame-ancestors 'none' (base.py)
# EMAIL_URL (base.py) names the SMTP server; DJANGO_EMAIL_BACKEND may still name a class.
EMAIL_BACKEND = env.str("DJANGO_EMAIL_BACKEND", default=EMAIL_BACKEND)  # noqa: F405
