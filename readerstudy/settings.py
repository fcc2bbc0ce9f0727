"""Readerstudy settings, driven by environment variables (see .env.example).

Zero-setup default: a SQLite file and Celery in eager mode. Set DATABASE_URL and
CELERY_BROKER_URL to run the same code on PostgreSQL and Redis or RabbitMQ.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
PRODUCTION = env_bool("PRODUCTION", False)
# `make demo`: DEBUG stays off (the project's own 404/500 pages, never Django's debug page), static
# files come straight from static/ through WhiteNoise, e-mail goes to the console.
DEMO = env_bool("DEMO", False)
# A missing SECRET_KEY is only acceptable for local development; PRODUCTION=1 refuses it even with
# DEBUG=1 (the development key is published in this file).
SECRET_KEY = os.environ.get("SECRET_KEY") or ("" if PRODUCTION else "insecure-dev-key-set-SECRET_KEY-in-production")
if not SECRET_KEY:
    raise RuntimeError("SECRET_KEY must be set when PRODUCTION=1")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc served from static/, never a CDN
    "django_htmx",
    "csp",
    "axes",
    # One direction: common <- catalog <- inference <- readerstudy (README, "Architecture").
    "common",
    "catalog",
    "inference",
    "readerstudy",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files (CSS, htmx, scripts) from the same process, compressed, with far-future cache
    # headers for the hashed names collectstatic writes; no proxy needed in front.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # A dropped database connection becomes a 503 "please retry" page, not a stack trace.
    "readerstudy.middleware.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The reader's language: the language cookie (set by the switcher; restored from the session
    # when missing), else Accept-Language.
    "readerstudy.language.SessionLanguageMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # Dates and times in the reader's time zone (the browser's, from a cookie reader.js sets).
    "readerstudy.language.TimezoneMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Reader sessions end after READER_IDLE_TIMEOUT_S without a request (shared clinic workstations).
    "readerstudy.reader_idle.ReaderIdleTimeoutMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes requires: counts failed logins and locks out brute force.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Login throttling: after AXES_FAILURE_LIMIT failures for an existing username from one client IP, that
# username is locked for that IP for an hour; failures for unknown usernames lock the IP (spraying).
# Behind a reverse proxy the client IP is read from X-Forwarded-For, but only when the request comes
# from an address in TRUSTED_PROXIES (IPs or CIDRs); otherwise anyone could forge it.
AXES_ENABLED = env_bool("AXES_ENABLED", True)
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = 1  # hours
AXES_LOCKOUT_PARAMETERS = "readerstudy.security.login_lockout_parameters"
AXES_CLIENT_IP_CALLABLE = "readerstudy.security.client_ip"
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")
# Refused sign-ups (invitation page) allowed per client IP per hour, then sign-up is refused: a taken
# username reads like any unusable one, and this bounds how fast names can be probed (0: no limit).
SIGNUP_RATE_LIMIT = int(os.environ.get("SIGNUP_RATE_LIMIT", "10"))
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

# Content security policy: no inline or third-party script; styles may be inline (progress bars).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

ROOT_URLCONF = "readerstudy.urls"
WSGI_APPLICATION = "readerstudy.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        # Off by default: the check is a round trip before every request's first query (a tenth of the
        # case page's time under load). A connection that died (database restart, failover) fails
        # one request with the 503 retry page and is then replaced; set 1 to check before each request.
        conn_health_checks=env_bool("DB_CONN_HEALTH_CHECKS", False),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The zero-setup default must hold a pilot (10 readers submitting at once, bench/pilot.py):
    # WAL lets pages read while one transaction writes; IMMEDIATE takes the write lock when a
    # transaction starts, so concurrent writers queue on the busy timeout instead of one failing at once
    # with "database is locked" (SQLite cannot wait when a reader upgrades to a writer mid-transaction).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=float(os.environ.get("SQLITE_BUSY_TIMEOUT_S", "20")),
        transaction_mode="IMMEDIATE",
        init_command="PRAGMA journal_mode=WAL",
    )
    DATABASES["default"]["CONN_MAX_AGE"] = 0
elif env_bool("DB_PREPARED_STATEMENTS", True):
    # PostgreSQL: bind parameters on the server and prepare a statement after it has run a few times
    # on a connection, so the hot reader queries skip planning (their joins cost more to plan than to
    # run). Turn off behind a PgBouncer in transaction-pooling mode (prepared statements are per session).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=int(os.environ.get("DB_PREPARE_THRESHOLD", "5")))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Caches. "default" is per process unless CACHE_URL names a shared Redis (redis://host:6379/1): then
# sessions are read from it too (cached_db: written through to the database, so logging out in one
# process logs out everywhere). "fragments" is always per process: it holds only rendered parts of
# the case page keyed by everything they depend on, which never change once written (see
# readerstudy.views.reader._case_parts), so there is nothing to invalidate across processes.
CACHE_URL = os.environ.get("CACHE_URL", "")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "default"},
    "fragments": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "fragments",
        "TIMEOUT": int(os.environ.get("FRAGMENT_CACHE_SECONDS", str(24 * 3600))),
        "OPTIONS": {"MAX_ENTRIES": int(os.environ.get("FRAGMENT_CACHE_ENTRIES", "5000"))},
    },
}
if DEBUG:  # a template edited under runserver shows at once (the tests run with the cache on)
    CACHES["fragments"] = {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}
if CACHE_URL:
    CACHES["default"] = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    # Not a rule: its password_changed hook revokes the user's API tokens whenever a password is set
    # (password reset, change, admin, manage.py changepassword).
    {"NAME": "readerstudy.security.RevokeTokensOnPasswordChange"},
]
READER_IDLE_TIMEOUT_S = int(os.environ.get("READER_IDLE_TIMEOUT_S", "1800"))
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
PASSWORD_RESET_TIMEOUT = int(os.environ.get("PASSWORD_RESET_TIMEOUT", str(24 * 3600)))  # seconds a reset link works

# E-mail (password reset links): printed on the console unless EMAIL_HOST names an SMTP server.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND") or (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "587"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Readerstudy <noreply@localhost>")

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# The languages the reader and staff pages ship in (catalogues in locale/, README "Languages").
LANGUAGES = [
    ("en-gb", "English"),
    ("zh-hans", "简体中文"),
    ("es", "Español"),
    ("de", "Deutsch"),
    ("fr", "Français"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_NAME = "readerstudy_language"
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
MEDIA_URL = "media/"
# Images live on the local disk by default, or in S3-compatible object storage (django-storages)
# with STORAGE_BACKEND=s3 and the AWS_* variables (endpoint, bucket, credentials).
STORAGE_BACKEND = os.environ.get("STORAGE_BACKEND", "filesystem")
# STATIC_HASHED=1 (default with PRODUCTION=1): collectstatic writes compressed files with content hashes
# in their names, served with far-future cache headers (run `manage.py collectstatic` first: the
# Dockerfile and `make serve` do). Otherwise WhiteNoise serves static/ as it is (demo, development).
STATIC_HASHED = env_bool("STATIC_HASHED", PRODUCTION)
WHITENOISE_USE_FINDERS = not STATIC_HASHED
if WHITENOISE_USE_FINDERS:  # STATIC_ROOT is not needed then; WhiteNoise would warn that it is missing
    warnings.filterwarnings("ignore", message="No directory at: ", category=UserWarning)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage" if STATIC_HASHED
                    else "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if STORAGE_BACKEND == "s3":
    STORAGES["default"] = {"BACKEND": "storages.backends.s3.S3Storage"}
    AWS_S3_ENDPOINT_URL = os.environ.get("AWS_S3_ENDPOINT_URL") or None
    AWS_STORAGE_BUCKET_NAME = os.environ.get("AWS_STORAGE_BUCKET_NAME", "readerstudy")
    AWS_DEFAULT_ACL = None
    AWS_QUERYSTRING_AUTH = True

# Uploads and imports
MAX_IMAGE_BYTES = int(os.environ.get("MAX_IMAGE_BYTES", str(25 * 1024 * 1024)))
MAX_IMAGE_PIXELS = int(os.environ.get("MAX_IMAGE_PIXELS", str(60_000_000)))
MAX_ZIP_BYTES = int(os.environ.get("MAX_ZIP_BYTES", str(4 * 1024**3)))
THUMBNAIL_SIZE = int(os.environ.get("THUMBNAIL_SIZE", "320"))
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# Celery: eager (in-process) unless a broker is configured.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = True
# Without a broker (eager mode) web-started analyses run in a thread after the response, so the page
# returns at once and shows progress; 0 runs them inside the request.
ANALYSIS_EAGER_THREAD = env_bool("ANALYSIS_EAGER_THREAD", True)
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"inference.tasks.*": {"queue": "inference"}}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis redelivers an unacknowledged task (its worker died) after this many seconds.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "3600"))}
# A broker outage must not hang web requests: publishing waits at most a few seconds, then the
# work stays pending in the database and common.queueing.requeue_pending resends it.
CELERY_BROKER_CONNECTION_TIMEOUT = float(os.environ.get("CELERY_BROKER_CONNECTION_TIMEOUT", "2"))
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": CELERY_BROKER_CONNECTION_TIMEOUT}
CELERY_BEAT_SCHEDULE = {
    "requeue-pending": {"task": "common.requeue_pending", "schedule": 60.0},
}
CELERY_TIMEZONE = TIME_ZONE

# Inference
INFERENCE_DEVICE = os.environ.get("INFERENCE_DEVICE", "auto")  # auto | cpu | cuda
INFERENCE_BATCH_SIZE = int(os.environ.get("INFERENCE_BATCH_SIZE", "32"))
MODEL_ROOT = Path(os.environ.get("MODEL_ROOT", BASE_DIR / "var" / "models"))

# API tokens (manage.py api_token) stop working this many days after they were issued; a password
# change revokes them at once.
API_TOKEN_TTL_DAYS = float(os.environ.get("API_TOKEN_TTL_DAYS", "30"))
REST_FRAMEWORK = {
    # Token first: an anonymous API call gets 401 with a WWW-Authenticate challenge.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "readerstudy.security.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "readerstudy.api.pagination.ApiCursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "readerstudy.api.errors.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Readerstudy API",
    "DESCRIPTION": "Clinician reader studies of medical AI. Token (`Authorization: Token <key>`, "
                   "see `manage.py api_token`) or session authentication; errors are "
                   '`{"error": {"code", "message", "details"}}`.',
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "MembershipRoleEnum": "readerstudy.models.Role",
        "ImageRoleEnum": "catalog.models.ImageRole",
    },
}

# Security: strict in production (PRODUCTION=1 turns on HTTPS redirect, HSTS for a year and secure
# cookies unless set otherwise), relaxed for local development.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # the load balancer's probe speaks plain HTTP to the container
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(365 * 24 * 3600) if PRODUCTION else "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("BEHIND_TLS_PROXY"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Tests that need PostgreSQL, a broker or a browser fail instead of skipping when set.
REQUIRE_SERVICES = env_bool("REQUIRE_SERVICES", False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
