"""Settings, all from the environment (see README.md, "Settings")."""

from __future__ import annotations

import ipaddress
import logging
import os
from pathlib import Path
from typing import Any

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
logger = logging.getLogger("promptrails.settings")


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)
DATA_DIR = Path(os.environ.get("PROMPTRAILS_DATA_DIR", BASE_DIR / "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

_DEV_SECRET = "dev-insecure-secret-key-change-me"  # noqa: S105 - documented dev default
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise RuntimeError("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = _DEV_SECRET
    logger.warning("SECRET_KEY is not set; using the insecure development default")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "promptrails",
    "agents",
    "executions",
    "chat",
    "browser",
]

MIDDLEWARE = [
    "promptrails.middleware.RequestSizeLimitMiddleware",
    "promptrails.storable_requests.StorableTextMiddleware",
    "promptrails.middleware.LoginThrottleMiddleware",
    "browser.middleware.BrowserKeyBoundaryMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "promptrails.middleware.ApiErrorMiddleware",
]

ROOT_URLCONF = "promptrails.urls"
ASGI_APPLICATION = "promptrails.asgi.application"
WSGI_APPLICATION = "promptrails.wsgi.application"

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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'db.sqlite3'}"
_db: dict[str, Any] = dict(dj_database_url.parse(DATABASE_URL, conn_max_age=0))
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # No pool for SQLite: each database thread keeps its connection (opening one per query
    # was a third of the server's CPU under load).
    _db["CONN_MAX_AGE"] = None
    # Concurrent turns under ASGI: WAL, IMMEDIATE write transactions and a busy timeout,
    # or concurrent writers fail with "database is locked".
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A test database file per test run and worker, so concurrent runs never share one.
    _run = os.environ.get("PYTEST_XDIST_TESTRUNUID", str(os.getpid()))[:12]
    _worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    _db["TEST"] = {"NAME": str(DATA_DIR / f"test_{_run}_{_worker}.sqlite3")}
elif _db["ENGINE"] == "django.db.backends.postgresql":
    # Under ASGI every request may run on another thread: no persistent connections,
    # psycopg's pool instead.
    _db["CONN_MAX_AGE"] = 0
    _db.setdefault("OPTIONS", {})["pool"] = {
        "min_size": int(os.environ.get("DB_POOL_MIN", "2")),
        "max_size": int(os.environ.get("DB_POOL_MAX", "20")),
        "timeout": 10,
    }
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channels and cache ---------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": os.environ.get("REDIS_PREFIX", "pr")},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("REDIS_PREFIX", "pr"),
            # Redis out of reach costs a request seconds, not the OS's TCP timeout (the rate
            # limits then fail open: promptrails.ratelimit)
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 5},
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": 10_000, "expiry": 120},
        }
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth, i18n, static -----------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/admin/login/"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
SERVE_STATIC = env_bool("SERVE_STATIC", True)
APPEND_SLASH = False
CSRF_FAILURE_VIEW = "promptrails.api.errors.csrf_failure"

# --- CORS -------------------------------------------------------------------------------
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS")
# For the management API. The browser chat routes answer CORS from their browser key's
# origins instead (browser/cors.py).
CORS_URLS_REGEX = r"^/api/(?!v1/browser/).*$"
CORS_ALLOW_HEADERS = ["x-api-key", "content-type", "accept", "authorization", "x-workspace-id",
                      "last-event-id", "idempotency-key"]

# --- REST framework -----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "promptrails.api.authentication.ApiKeyAuthentication",
        "promptrails.api.authentication.WorkspaceSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["promptrails.api.permissions.HasWorkspace"],
    "DEFAULT_PAGINATION_CLASS": "promptrails.api.pagination.PagePagination",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["promptrails.api.parsers.LenientJSONParser"],
    "EXCEPTION_HANDLER": "promptrails.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["promptrails.api.throttling.WorkspaceRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DATETIME_FORMAT": "iso-8601",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "PromptRails-compatible chat-session server",
    "DESCRIPTION": "Chat sessions, agents and executions; the PromptRails v2 API surface.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "AgentStatusEnum": "agents.api.common.AGENT_STATUSES",
        "ExecutionStatusEnum": "executions.models.ExecutionStatus.values",
        "SpanStatusEnum": "executions.models.SpanStatus.values",
        "ToolStatusEnum": "agents.api.tools.TOOL_STATUSES",
        "HealthStatusEnum": ["ok", "unavailable"],
        "ComponentHealthEnum": ["ok", "down"],
    },
    # Per-operation security comes from the auth-class extensions in promptrails.api.schema.
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
}

# --- Limits and runtime -------------------------------------------------------------------
MAX_REQUEST_BYTES = int(os.environ.get("PROMPTRAILS_MAX_REQUEST_BYTES", str(1024 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BYTES
MAX_MESSAGE_CHARS = 100_000
METADATA_MAX_BYTES = 16 * 1024
METADATA_MAX_DEPTH = 5
TURN_LEASE_SECONDS = int(os.environ.get("PROMPTRAILS_TURN_LEASE_SECONDS", "30"))
# whether this process's housekeeping sweeps stale runs and overdue approvals (at least one
# process must; docs/turn.md "Recovery")
SWEEPS = env_bool("PROMPTRAILS_SWEEPS", True)
SSE_KEEPALIVE_SECONDS = float(os.environ.get("PROMPTRAILS_SSE_KEEPALIVE_SECONDS", "15"))
# the least time between two writes of one SSE stream: tokens that come sooner leave
# together (executions.follow.follow_batches); 0 writes each as it comes
SSE_SPACING_SECONDS = float(os.environ.get("PROMPTRAILS_SSE_SPACING_SECONDS", "0.02"))
PROVIDER_TIMEOUT_SECONDS = float(os.environ.get("PROMPTRAILS_PROVIDER_TIMEOUT", "60"))
CREDENTIALS_KEY = os.environ.get("PROMPTRAILS_CREDENTIALS_KEY", "")
# hosts (by name) and CIDRs that workspace-chosen URLs may reach beyond public addresses
# (promptrails.outbound), e.g. "localhost,10.0.0.0/8"
OUTBOUND_ALLOW = env_list("PROMPTRAILS_OUTBOUND_ALLOW")
RATE_LIMIT_KEY_PER_MINUTE = int(os.environ.get("PROMPTRAILS_RATE_LIMIT_KEY_PER_MINUTE", "600"))
RATE_LIMIT_WORKSPACE_PER_MINUTE = int(
    os.environ.get("PROMPTRAILS_RATE_LIMIT_WORKSPACE_PER_MINUTE", "1200")
)
MAX_CONCURRENT_TURNS_PER_WORKSPACE = int(
    os.environ.get("PROMPTRAILS_MAX_CONCURRENT_TURNS", "50")
)
# Browser keys (browser/): requests per minute per visitor address and key, unless the key
# sets its own; the lifetime of the bearer a browser key is exchanged for.
BROWSER_RATE_LIMIT_PER_MINUTE = int(
    os.environ.get("PROMPTRAILS_BROWSER_RATE_LIMIT_PER_MINUTE", "60")
)
BROWSER_TOKEN_SECONDS = int(os.environ.get("PROMPTRAILS_BROWSER_TOKEN_SECONDS", "900"))
# An open browser stream also checks this often whether its key was revoked (the bus tells
# it at once with Redis; this is for a single process without it, or a lost message).
BROWSER_REVOCATION_CHECK_SECONDS = float(
    os.environ.get("PROMPTRAILS_BROWSER_REVOCATION_CHECK_SECONDS", "5")
)
RATE_LIMIT_LOGIN_PER_MINUTE = int(os.environ.get("PROMPTRAILS_RATE_LIMIT_LOGIN_PER_MINUTE", "10"))
# Proxies whose X-Forwarded-For is believed (addresses or networks; none by default):
# promptrails.client_address. A malformed entry stops startup, named by the ValueError.
TRUSTED_PROXIES = env_list("PROMPTRAILS_TRUSTED_PROXIES")
for _proxy in TRUSTED_PROXIES:
    ipaddress.ip_network(_proxy, strict=False)

# --- OpenTelemetry export of traces (optional; off unless an endpoint is set) ---------------
OTEL_EXPORTER_OTLP_ENDPOINT = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
OTEL_SERVICE_NAME = os.environ.get("OTEL_SERVICE_NAME", "promptrails-server")

# --- Security (production defaults when DEBUG is off) ------------------------------------
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    if env_bool("BEHIND_TLS_PROXY", True):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The chat page's Content-Security-Policy: only our own scripts, styles and sockets.
CHAT_PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
    "object-src 'none'"
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
