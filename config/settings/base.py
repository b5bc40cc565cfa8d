"""Settings shared by every environment, read from the environment (django-environ).

With no variable set the product runs embedded: SQLite in ``var/`` and a Celery broker on the
filesystem, no server to install. ``DATABASE_URL`` switches to PostgreSQL, ``REDIS_URL`` to Redis.
"""

from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("CRM_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "csp",
    "accounts",
    "crm",
    "recyclebin",
    "history",
    "changelog",
    "backups",
    "support",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.NoStoreForSignedInMiddleware",  # its answers to a signed-in caller: last
    "core.middleware.ApiBodyLimitMiddleware",  # before anything reads an oversized API body
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified(): the second factor
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.middleware.SecondFactorMiddleware",  # who needs a second factor gives it first
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "accounts.middleware.RuleViolationMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into accounts.lockout's answer
]

ROOT_URLCONF = "config.urls"
API_PATH_PREFIX = "/api/"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "accounts.context_processors.tenancy",
            ],
        },
    },
]

# Database: SQLite in var/ unless DATABASE_URL names another (PostgreSQL in production).
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # Web, worker and beat share one file: WAL lets readers work beside one writer, IMMEDIATE
    # transactions take the write lock up front instead of failing on upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DJANGO_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out username/address pair before the password is even checked.
    "axes.backends.AxesStandaloneBackend",
    # Django's ModelBackend (refuses inactive users, sessions included), the user's account
    # read with the user.
    "accounts.authentication.AccountModelBackend",
    # Sessions signed in before AccountModelBackend name this one: they stay signed in.
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
# One way to write a time per language, without trailing periods (config/formats/).
FORMAT_MODULE_PATH = ["config.formats"]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_PARSER_CLASSES": [
        # JSON only (a form cannot say null); DRF's parser, refusing nesting deeper than 100.
        "core.api.parsers.JSONParser",
    ],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF's TokenAuthentication, plus the second factor the token was issued with.
        "accounts.authentication.SecondFactorTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "accounts.permissions.IsAccountMember",
        "accounts.permissions.SecondFactorVerified",
    ],
    # Per user (so per token) and per address for anonymous callers; 429 with Retry-After.
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="60/min"),
        "user": env.str("API_THROTTLE_USER", default="1000/min"),
    },
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.NewestFirstCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "core.api.filters.StrictFilterBackend",
        "core.api.filters.TextSearchFilter",
        "core.api.filters.StrictOrderingFilter",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CRM API",
    "DESCRIPTION": "A CRM that never loses data. Every call acts inside the caller's own account."
    "\n\n[Back to the CRM](/) · [The schema (OpenAPI 3, JSON)](/api/v1/schema/?format=json)",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api.schema.errors_document",
        "core.api.schema.query_text_document",
        "core.api.schema.body_text_document",
    ],
    # One name per choice set where fields of the same name use different sets (else
    # drf-spectacular makes up names, and `check --deploy` warns).
    "ENUM_NAME_OVERRIDES": {
        "EntityTypeEnum": "crm.entities.EntityType",
        "PreviewEntityTypeEnum": "backups.restore.ENTITY_TABLES",
        "RestoreKindEnum": "backups.restore.KINDS",
        "RequestKindEnum": "support.models.RequestKind",
        "SnapshotKindEnum": "backups.models.Snapshot.Kind",
        "HistorySubjectEnum": "history.subjects.SUBJECTS",
        "JobStatusEnum": "recyclebin.models.RestoreJob.Status",  # a revert job's are the same
    },
}

# --- Celery ---------------------------------------------------------------------------------
# REDIS_URL set: Redis is broker and result backend. Unset: Kombu's filesystem transport in var/,
# which needs no server but is still a real broker between real processes (web, worker, beat).
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_DIR = VAR_DIR / "broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
else:
    CELERY_BROKER_URL = "filesystem://"
    for folder in ("queue", "control"):
        (CELERY_BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_RESULT_BACKEND = None
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True  # long work reports progress to rows the UI reads, not results
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Every task has a soft time limit (SoftTimeLimitExceeded is raised in it: a transaction rolls
# back, a claimed job is marked failed) and a hard one (the worker process is killed; the
# watchdogs clean up). Long work (a restore, a nightly batch, a bin restore job) sets its own,
# longer pair from LONG_TASK_*.
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=360)
LONG_TASK_SOFT_TIME_LIMIT = env.int("LONG_TASK_SOFT_TIME_LIMIT", default=2 * 3600)
LONG_TASK_TIME_LIMIT = env.int("LONG_TASK_TIME_LIMIT", default=2 * 3600 + 300)
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# The whole schedule lives in config/schedule.py.

SESSION_COOKIE_AGE = 60 * 60 * 24 * 14

# The API's throttling counts here: Redis when REDIS_URL is set (shared by every web process),
# else this process's memory (the embedded default runs one web process).
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "crm",
        }
    }
    # A page's session read from Redis, not a query (written to both; the database keeps it).
    # Only with a cache every web process shares: with each process's own memory a session
    # logged out in one would stay valid in another.
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# The history's and the bin's pages keep their own part whole in this cache while the account's
# history does not change, at most this many seconds (core.page_cache); 0 keeps nothing.
PAGE_PART_SECONDS = env.int("PAGE_PART_SECONDS", default=60)

# --- Security -------------------------------------------------------------------------------
# Cookies JavaScript never needs: the session, and CSRF (forms carry the token in a field).
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True

# Two-factor authentication (django-otp): support staff always; account admins when their
# account requires it; anyone who enrolled. The authenticator app shows this issuer name.
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="CRM")
OTP_RECOVERY_CODES = 10  # shown once at enrolment; each works once
# The Django admin lists devices (an operator resets someone's 2FA by deleting them) but shows
# neither keys nor recovery codes.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# Login lockout (django-axes): after AXES_FAILURE_LIMIT failed logins of one username from one
# address, that pair is refused (browser page and token endpoint: 429) for AXES_COOLOFF_MINUTES,
# counted from the failure that locked it; more attempts meanwhile do not extend it. Operators
# unlock with `manage.py axes_reset_username NAME` (or axes_reset_ip_username, axes_reset).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_USERNAME_CALLABLE = "accounts.lockout.attempted_username"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False  # no start-up banner; lockouts are still logged (username masked)
# The address counted: REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT reverse proxies the address
# the outermost of them saw (X-Forwarded-For, read from the right so a client cannot forge it).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "accounts.lockout.client_ip"
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "otp", "code"]

# Content-Security-Policy (django-csp), the same in every environment so the tests and the
# browser tests run under it: no inline script or style anywhere, nothing from elsewhere.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
    }
}

# Days a deleted item stays in the recycle bin before the automatic purge.
BIN_RETENTION_DAYS = env.int("BIN_RETENTION_DAYS", default=30)
# A bulk restore of more entries than this runs as a Celery job with a progress bar (RestoreJob)
# instead of inside the request. Same default as recyclebin/conf.py.
BIN_RESTORE_JOB_THRESHOLD = env.int("BIN_RESTORE_JOB_THRESHOLD", default=1000)
# A revert (history -> undo) of more records than this runs as a Celery job with a progress bar.
REVERT_JOB_THRESHOLD = env.int("REVERT_JOB_THRESHOLD", default=1000)

# --- Backups --------------------------------------------------------------------------------
# Snapshot files go to the "snapshots" storage, never served by URL (no MEDIA_URL, no url
# pattern; its url() refuses). SNAPSHOT_STORAGE: "local" (a private folder, files 0600), "s3"
# (any S3-compatible store, private objects, through django-storages), or a storage class path.
SNAPSHOT_STORAGE = env.str("SNAPSHOT_STORAGE", default="local")
if SNAPSHOT_STORAGE == "local":
    STORAGES["snapshots"] = {
        "BACKEND": "backups.storage.PrivateFileSystemStorage",
        "OPTIONS": {
            "location": env.str("SNAPSHOT_DIR", default=str(VAR_DIR / "snapshots")),
            "base_url": None,
            "file_permissions_mode": 0o600,
            "directory_permissions_mode": 0o700,
        },
    }
elif SNAPSHOT_STORAGE == "s3":
    STORAGES["snapshots"] = {
        "BACKEND": "backups.storage.PrivateS3Storage",
        "OPTIONS": {
            "bucket_name": env.str("SNAPSHOT_S3_BUCKET"),
            "location": env.str("SNAPSHOT_S3_PREFIX", default="snapshots"),
            # Unset: AWS. Set for MinIO, Ceph, Backblaze, Scaleway, ...
            "endpoint_url": env.str("SNAPSHOT_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("SNAPSHOT_S3_REGION", default="") or None,
            # Unset: boto3's usual chain (AWS_* variables, instance role, ~/.aws).
            "access_key": env.str("SNAPSHOT_S3_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("SNAPSHOT_S3_SECRET_ACCESS_KEY", default="") or None,
        },
    }
else:
    STORAGES["snapshots"] = {"BACKEND": SNAPSHOT_STORAGE}
# Days a snapshot is kept before the daily expiry removes it (row and file).
# Restore drills (backups.drill): every finished snapshot is drilled within this many minutes
# of being taken, or `manage.py backup_status` reports it (exit 1); beat sends the due drills
# every DRILL_SWEEP_MINUTES, DRILL_BATCH to a task.
DRILL_DEADLINE_MINUTES = env.int("DRILL_DEADLINE_MINUTES", default=60)
DRILL_SWEEP_MINUTES = env.int("DRILL_SWEEP_MINUTES", default=5)
DRILL_BATCH = env.int("DRILL_BATCH", default=50)
SNAPSHOT_RETENTION_DAYS = env.int("SNAPSHOT_RETENTION_DAYS", default=7)
# Snapshots at rest (backups/encryption.py): AES-256-GCM when set, 32 random bytes base64 encoded.
# SNAPSHOT_ENCRYPTION_OLD_KEYS: comma-separated keys kept only to read older snapshots (rotation).
SNAPSHOT_ENCRYPTION_KEY = env.str("SNAPSHOT_ENCRYPTION_KEY", default="")
SNAPSHOT_ENCRYPTION_OLD_KEYS = env.str("SNAPSHOT_ENCRYPTION_OLD_KEYS", default="")
# When beat starts the nightly snapshots (UTC).
NIGHTLY_SNAPSHOT_HOUR = env.int("NIGHTLY_SNAPSHOT_HOUR", default=2)
NIGHTLY_SNAPSHOT_MINUTE = env.int("NIGHTLY_SNAPSHOT_MINUTE", default=0)
# Accounts per nightly task: a small account's snapshot takes milliseconds, a task's round trip
# through the broker about as long again.
NIGHTLY_SNAPSHOT_BATCH = env.int("NIGHTLY_SNAPSHOT_BATCH", default=50)
# A failed nightly snapshot of an account is tried again this many times, this long apart.
NIGHTLY_SNAPSHOT_RETRIES = env.int("NIGHTLY_SNAPSHOT_RETRIES", default=3)
NIGHTLY_SNAPSHOT_RETRY_SECONDS = env.int("NIGHTLY_SNAPSHOT_RETRY_SECONDS", default=300)

# --- Support: restore requests ------------------------------------------------------------
# The restore task writes a heartbeat this often; the watchdog (beat, every minute) fails a
# request whose heartbeat stopped this long ago, sends again the task of a request queued this
# long, and lifts a maintenance that no running request holds after this long.
SUPPORT_RESTORE_HEARTBEAT_SECONDS = env.int("SUPPORT_RESTORE_HEARTBEAT_SECONDS", default=15)
SUPPORT_RESTORE_STALE_MINUTES = env.int("SUPPORT_RESTORE_STALE_MINUTES", default=5)
SUPPORT_RESTORE_RESEND_MINUTES = env.int("SUPPORT_RESTORE_RESEND_MINUTES", default=15)
SUPPORT_MAINTENANCE_STALE_MINUTES = env.int("SUPPORT_MAINTENANCE_STALE_MINUTES", default=30)

# --- Email (notifications) ------------------------------------------------------------------
# EMAIL_URL: smtp://user:password@host:25, smtp+tls://...:587, smtp+ssl://...:465,
# consolemail://. Unset: SMTP on localhost:25 (local.py prints to the console instead).
_email = env.email_url("EMAIL_URL", default="smtp://localhost:25")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email["EMAIL_HOST"] or "localhost"
EMAIL_PORT = _email["EMAIL_PORT"] or 25
EMAIL_HOST_USER = _email["EMAIL_HOST_USER"] or ""
EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"] or ""
EMAIL_USE_TLS = bool(_email.get("EMAIL_USE_TLS"))
EMAIL_USE_SSL = bool(_email.get("EMAIL_USE_SSL"))
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)  # a hung server must not hang a request
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="crm@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# The operators: the nightly integrity check (backups.integrity) mails them any breach.
# DJANGO_ADMINS: comma list of addresses.
ADMINS = [("", address) for address in env.list("DJANGO_ADMINS", default=[])]
# Where emails link to (the browser's address of this site).
SITE_URL = env.str("SITE_URL", default="http://localhost:8000")
# How long a support user's enrolment link (accounts.enrollment) works.
SUPPORT_ENROLLMENT_HOURS = env.int("SUPPORT_ENROLLMENT_HOURS", default=24)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

SPECTACULAR_SETTINGS.update(
    {
        "SWAGGER_UI_DIST": "SIDECAR",  # served from our static files, no CDN
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "REDOC_DIST": "SIDECAR",
    }
)
