"""Health (liveness) and readiness endpoints for load balancers and orchestrators.

/healthz answers 200 while the process can serve a request at all.
/readyz checks what a search needs: the database, the broker, the encoder
(loaded, or at least its weights present) and the in-memory index (built and
caught up with the change feed). It answers 503 with the failing checks, so
a web process is taken out of rotation until it is ready. Anyone sees which
checks pass; only staff see why one fails (the reasons name hosts, versions and
error text), and the log records every failure.
"""

from __future__ import annotations

import logging
import time

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from cbir_site.config import site_config
from indexing.config import indexing_config

logger = logging.getLogger(__name__)

# The index may lag the feed by this many events and still count as fresh.
MAX_FEED_LAG = 1000


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {
        "database": _check(_database),
        "broker": _check(_broker),
        "encoder": _check(_encoder),
        "index": _check(_index),
    }
    ready = all(c["ok"] for c in checks.values())
    for name, check in checks.items():
        if not check["ok"]:
            logger.warning("Not ready: %s check failed: %s", name, check["detail"])
    if not request.user.is_staff:
        checks = {name: _public(check) for name, check in checks.items()}
    return JsonResponse({"ready": ready, "checks": checks}, status=200 if ready else 503)


def _check(probe) -> dict[str, object]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    try:
        detail = probe()
        ok = True
    except Exception as exc:  # a readiness probe reports failures, it never raises them
        detail, ok = f"{type(exc).__name__}: {exc}", False
    return {"ok": ok, "detail": detail, "ms": round((time.perf_counter() - started) * 1000, 1)}


def _public(check: dict[str, object]) -> dict[str, object]:
    return {"ok": check["ok"], "status": "ok" if check["ok"] else "failing"}


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    if row is None:
        raise RuntimeError("the pgvector extension is missing")
    return f"pgvector {row[0]}"


def _broker() -> str:
    if not site_config().background_tasks:
        return "background tasks are off"
    from cbir_site.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        return conn.as_uri()


def _encoder() -> str:
    from indexing.runtime import encoder_status

    status = encoder_status()
    if status.error:
        raise RuntimeError(status.error)
    return f"{status.name} ({'loaded' if status.loaded else 'weights present, not loaded yet'})"


def _index() -> str:
    from indexing.index_sync import feed_state, manager
    from indexing.models import IndexEvent
    from indexing.runtime import active_model_name

    if indexing_config().index_backend == "pgvector":
        return "pgvector backend: no in-memory index"
    model = active_model_name()
    state = manager.loaded().get(model)
    if state is None:
        manager.rebuild_in_background(model)  # the first probe starts the build
        raise RuntimeError(f"the {model} index is being built")
    if feed_state().generation != state.generation:
        raise RuntimeError("the index is being rebuilt")
    lag = IndexEvent.objects.filter(id__gt=state.cursor.position).count()
    if lag > MAX_FEED_LAG:
        raise RuntimeError(f"the index is {lag} changes behind")
    return f"{len(state)} vectors, {lag} changes behind"
