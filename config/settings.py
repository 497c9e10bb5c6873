"""Django settings, read from the environment (and a git-ignored ``.env`` file).

Nothing secret lives here. ``DEBUG`` is off unless ``DJANGO_DEBUG`` is set to a true
value; ``make demo`` and ``make test`` write a ``.env`` with a fresh random secret key.
"""

import json
import os
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from dotenv import load_dotenv

from config.database_url import database_from_url

BASE_DIR = Path(__file__).resolve().parent.parent
load_dotenv(BASE_DIR / ".env")

TRUE_VALUES = {"1", "true", "yes", "on"}
FALSE_VALUES = {"0", "false", "no", "off", ""}


def env_flag(name: str, default: bool = False) -> bool:
    """Read a boolean environment variable: ``1``, ``true``, ``yes``, ``on`` or their opposites.

    Anything else is refused at start-up (a typo such as ``DJANGO_DEBUG=ture`` must not
    silently mean "off"). Raises ``ImproperlyConfigured`` naming the variable.
    """
    value = os.environ.get(name)
    if value is None:
        return default
    word = value.strip().lower()
    if word in TRUE_VALUES:
        return True
    if word in FALSE_VALUES:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a true/false value: use one of "
        f"{', '.join(sorted(TRUE_VALUES))} or {', '.join(sorted(FALSE_VALUES - {''}))}"
    )


def env_list(name: str, default: str) -> list[str]:
    """Read a comma-separated environment variable into a list of non-empty items."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is not set. Put it in the environment or in .env "
        "(`make .env` writes one with a random key)."
    )

DEBUG = env_flag("DJANGO_DEBUG")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    # Django's admin, as the operator's console (names, dashboard: meter_readings.admin.site).
    "meter_readings.apps.ConsoleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "simple_history",
    "meter_readings",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # Last: answers a locked-out login with 429 (see AXES_ below).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

DATABASES = {
    "default": database_from_url(
        os.environ.get("DATABASE_URL", "sqlite:///db.sqlite3"), base_dir=BASE_DIR
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # WAL lets the admin read while an import writes; a busy timeout instead of
    # "database is locked" when another write meets an import (imports themselves take
    # turns and wait as long as it takes: services/import_guard.py). The import's
    # staging tables (one batch at a time) are temporary: kept in memory, not in a
    # temporary file. IMMEDIATE: every transaction takes the write lock at BEGIN, which
    # the import's numbering of new rows relies on (SqliteBatchSql.store_meters).
    DATABASES["default"]["OPTIONS"] = {
        "timeout": float(os.environ.get("DJANGO_SQLITE_BUSY_TIMEOUT", "30")),
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY;"
        ),
        "transaction_mode": "IMMEDIATE",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Failed logins, on the admin's form and the API's token endpoint alike, are counted by
# django-axes: after AXES_FAILURE_LIMIT failures for one username from one address, that
# username is locked out from that address for AXES_COOLOFF_TIME (a locked-out attempt
# restarts the wait). Per username and address together, so that nobody can lock a
# colleague out from elsewhere. `manage.py axes_reset_username NAME` lifts a lockout.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("D0010_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("D0010_LOGIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
# D0010 date-times are GB clock time; the admin shows them in the same zone.
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Deployments run collectstatic and set DJANGO_STATIC_MANIFEST for cache-busting names;
# the demo and the tests serve straight from the apps' static folders.
STATIC_MANIFEST = env_flag("DJANGO_STATIC_MANIFEST")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if STATIC_MANIFEST
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not STATIC_MANIFEST
# Only deployments collect static files; without a root WhiteNoise serves the finders.
STATIC_ROOT = os.environ.get("DJANGO_STATIC_ROOT") or (
    BASE_DIR / "staticfiles" if STATIC_MANIFEST else None
)
WHITENOISE_AUTOREFRESH = DEBUG

# Uploads: larger files are streamed to a temporary file, never held in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
D0010_MAX_UPLOAD_BYTES = int(os.environ.get("D0010_MAX_UPLOAD_BYTES", 200 * 1024 * 1024))
# The admin's test data page (load the samples, delete everything): test systems only.
D0010_TEST_DATA_PAGE = env_flag("D0010_TEST_DATA_PAGE")

# The reading checks' thresholds: any field of meter_readings.validation.Thresholds,
# by name, overrides its default (documentation/VALIDATION.md lists them), e.g.
# D0010_VALIDATION='{"high_advance_factor": "2.5", "zero_advance_days": 120}'.
try:
    D0010_VALIDATION = json.loads(os.environ.get("D0010_VALIDATION") or "{}")
except json.JSONDecodeError as error:
    raise ImproperlyConfigured(f"D0010_VALIDATION is not a JSON object: {error}") from None
if not isinstance(D0010_VALIDATION, dict):
    raise ImproperlyConfigured("D0010_VALIDATION is not a JSON object of thresholds")
# Imports check the readings they touch. Off only for a bulk backfill of history, file
# by file, followed by one `manage.py check_readings` (documentation/VALIDATION.md).
D0010_CHECK_READINGS = env_flag("D0010_CHECK_READINGS", default=True)
# The stale-read report's default age, in months.
D0010_STALE_READ_MONTHS = int(os.environ.get("D0010_STALE_READ_MONTHS", "12"))
# Exception notes are free text: the audit trail keeps them whole.
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True
# History is evidence: no "revert to this version", which would bypass the workflow.
SIMPLE_HISTORY_REVERT_DISABLED = True

SESSION_COOKIE_SECURE = env_flag("DJANGO_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_flag("DJANGO_SECURE_SSL_REDIRECT")
# Load balancers probe health over plain HTTP, straight to the app: a redirect would
# read as "down".
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_flag("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS")
SECURE_HSTS_PRELOAD = env_flag("DJANGO_SECURE_HSTS_PRELOAD")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (Django's own): every script, style, font and image comes from
# this site (the admin, the charts, Swagger UI and ReDoc are all served locally).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF, "data:"],
    "worker-src": [CSP.SELF, "blob:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
# Behind a TLS-terminating proxy (nginx, a load balancer) that sets X-Forwarded-Proto.
if env_flag("DJANGO_BEHIND_TLS_PROXY"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Uploaded flow files queued for a background import are kept here (the originals are
# evidence), under MEDIA_ROOT/flow-files/.
MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT", BASE_DIR / "var" / "media"))

# Background imports. With no broker the same calls run in-process, so the demo needs
# nothing extra; with one (redis://127.0.0.1:6379/0) they go to Celery workers.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", CELERY_BROKER_URL or None)
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
# A task is acknowledged when it finishes, and redelivered if its worker dies: the
# import is one transaction, so a rerun starts from nothing.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_TRACK_STARTED = True

if os.environ.get("REDIS_CACHE_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["REDIS_CACHE_URL"],
        }
    }

# The API: token or session authentication, model permissions (view to read, add to
# upload), throttled, documented by drf-spectacular with locally served UI assets.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "meter_readings.api.permissions.ModelPermissionsIncludingView",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("D0010_API_ANON_RATE", "60/minute"),
        "user": os.environ.get("D0010_API_USER_RATE", "1200/minute"),
        "uploads": os.environ.get("D0010_API_UPLOAD_RATE", "120/hour"),
        # Token requests per client address, right or wrong (lockout counts the wrong).
        "login": os.environ.get("D0010_API_LOGIN_RATE", "10/minute"),
    },
    # An unexpected failure answers JSON with a reference, never the exception's text.
    "EXCEPTION_HANDLER": "meter_readings.api.errors.exception_handler",
    # Clients choose a representation with the Accept header; no ?format= override.
    "URL_FORMAT_OVERRIDE": None,
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "D0010 meter readings API",
    "DESCRIPTION": (
        "Flow files, meter points, meters and register readings imported from DTC D0010 "
        "flows. Authenticate with `Authorization: Token <key>` (POST /api/auth/token/)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ReadingTypeEnum": "meter_readings.d0010.codes.READING_TYPES",
        "BscValidationStatusEnum": "meter_readings.d0010.codes.BSC_VALIDATION_STATUSES",
        "ValidationReasonCodeEnum": "meter_readings.d0010.codes.VALIDATION_REASON_CODES",
        "ExceptionRuleEnum": "meter_readings.models.RULE_CHOICES",
    },
}
# Cross-origin requests are refused unless origins are named.
CORS_ALLOWED_ORIGINS = env_list("DJANGO_CORS_ALLOWED_ORIGINS", "")

# One JSON object per line (DJANGO_LOG_FORMAT=json) for a log collector, or plain text.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "config.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if os.environ.get("DJANGO_LOG_FORMAT") == "json" else "plain",
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    # axes: its start-up banner is noise on every command; lockouts are warnings.
    "loggers": {"django.request": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
