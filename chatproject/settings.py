"""Django settings: every value comes from the environment, with defaults that
let a fresh checkout run with no configuration (docs/configuration.md)."""
import ipaddress
import os
import re
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ImproperlyConfigured(f"{name} must be true or false, got {value!r}")


def env_list(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_int(name, default, minimum=0):
    value = os.environ.get(name)
    if value is None:
        return default
    if not re.fullmatch(r"-?[0-9]+", value) or int(value) < minimum:
        raise ImproperlyConfigured(f"{name} must be an integer of at least {minimum}, got {value!r}")
    return int(value)


def env_choice(name, default, choices):
    value = os.environ.get(name)
    if value is None:
        return default
    if value.lower() not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value.lower()


def env_networks(name, default):
    """A comma-separated list of networks (a bare address is a /32 or /128)."""
    networks = []
    for item in env_list(name, default):
        try:
            networks.append(ipaddress.ip_network(item))
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name}: {exc}") from None
    return networks


def env_origins(name):
    origins = env_list(name, [])
    for origin in origins:
        if not re.fullmatch(r"https?://[^/?#\s]+", origin):
            raise ImproperlyConfigured(f"{name} entries are scheme://host[:port] origins, got {origin!r}")
    return origins


def env_header(name):
    """A request header name as Django sees it in request.META."""
    value = os.environ.get(name)
    if value is None:
        return None
    if not re.fullmatch(r"[A-Za-z0-9-]+", value):
        raise ImproperlyConfigured(f"{name} must be a header name such as X-Forwarded-Proto, got {value!r}")
    return "HTTP_" + value.upper().replace("-", "_")


DEBUG = env_bool("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG=false")
    SECRET_KEY = "django-insecure-development-key-do-not-use-in-production"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])

# Behind a TLS-terminating proxy (docs/operations.md).
CSRF_TRUSTED_ORIGINS = env_origins("CSRF_TRUSTED_ORIGINS")
_proxy_ssl_header = env_header("SECURE_PROXY_SSL_HEADER")
if _proxy_ssl_header:
    SECURE_PROXY_SSL_HEADER = (_proxy_ssl_header, "https")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# Probes and scrapers speak plain HTTP to the process itself.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)

# GET /metrics (docs/operations.md).
METRICS = env_choice("METRICS", "on", ("on", "off")) == "on"
METRICS_ALLOW = env_networks("METRICS_ALLOW", ["127.0.0.1/32", "::1/128"])
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "").strip() or None

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "chatproject",  # the transports' admin and management commands
    "rooms",
    "messaging",
    "presence",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "chatproject.middleware_csp.ContentSecurityPolicyMiddleware",
    "chatproject.api.middleware.RawPathMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "chatproject.urls"
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
WSGI_APPLICATION = None
ASGI_APPLICATION = "chatproject.asgi.application"

# The service's hot statements are written for these two (messaging/store.py).
SUPPORTED_DATABASE_ENGINES = ("django.db.backends.sqlite3", "django.db.backends.postgresql")


def database_from_url(url):
    """The default database of DATABASE_URL: SQLite or PostgreSQL, else a clear error."""
    try:
        database = dj_database_url.parse(url)
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL: {exc}") from None
    if database["ENGINE"] not in SUPPORTED_DATABASE_ENGINES:
        raise ImproperlyConfigured(
            f"DATABASE_URL must name a SQLite or PostgreSQL database (sqlite://, postgres://), got {database['ENGINE']}"
        )
    return database


DATABASES = {"default": database_from_url(os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Concurrent writers (joins, messages) need WAL, a busy timeout and
    # write transactions that take the lock up front (docs/architecture.md, Storage decisions).
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        # The running service checkpoints the WAL from a thread of its own
        # (chatproject/service/checkpoints.py); a commit checkpoints only past
        # 10,000 pages (40 MB; SQLite's default is 1,000), when that thread
        # falls behind or no service runs.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=10000;",
    }
    # A file beside the database, not memory, so that servers started by the
    # tests see it too.
    _database_file = Path(DATABASES["default"]["NAME"])
    DATABASES["default"]["TEST"] = {"NAME": str(_database_file.with_name("test_" + _database_file.name))}

REDIS_URL = os.environ.get("REDIS_URL")
REDIS_PREFIX = os.environ.get("REDIS_PREFIX", "chat")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # Redis pub/sub with the hub's publishes pipelined and its own echoes
            # dropped unread (chatproject/layers.py).
            "BACKEND": "chatproject.layers.RedisPubSubLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": REDIS_PREFIX},
        }
    }
else:
    # One process only. Capacity and expiry are raised so that bursts and
    # long-lived connections never lose deliveries silently.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "chatproject.layers.ProcessChannelLayer",
            "CONFIG": {"capacity": 100_000, "expiry": 3600, "group_expiry": 10 * 365 * 86400},
        }
    }

# Service options (docs/configuration.md); CHAT_* variables override them.
CHAT_SERVICE = {}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

SPECTACULAR_SETTINGS = {
    "TITLE": "Chat service admin API",
    "DESCRIPTION": "The chat service's admin API (docs/rest-api.md). Names in paths are percent-encoded, one segment each.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # The docs page's assets are served from the package, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "chatproject" / "static"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

LOG_FORMAT = env_choice("LOG_FORMAT", "text", ("text", "json"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "chatproject.log_format.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "loggers": {
        "chat": {"handlers": ["console"], "level": os.environ.get("CHAT_LOG_LEVEL", "INFO"), "propagate": False},
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # daphne.access: the access log of `python -m chatproject.serve`, tokens redacted.
        "daphne": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}

# Async code reaches the ORM through one thread; keep its connection open.
# (Health checks would add a query to every call; a failed connection is
# closed after its error and reopened on the next call anyway.)
DATABASES["default"]["CONN_MAX_AGE"] = 600
