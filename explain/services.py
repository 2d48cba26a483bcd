"""Explanations: request one (cached or queued), compute one (the worker), bound the cache.

The request side never runs the model: it finds the cached row or creates
a pending one and queues `explain.tasks.explain_compute` after commit. The
worker loads the picture through the guarded decode, runs the heat-map
method within its budget (CBIR_EXPLAIN_*), adds the words, and evicts the
oldest rows beyond CBIR_EXPLAIN_CACHE_SIZE.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta

import numpy as np
from django.db import IntegrityError, transaction
from django.utils import timezone
from PIL.Image import Image as PILImage

from cbir_site.config import site_config
from cbir_site.errors import ApplicationError, ConflictError, InvalidInputError
from explain.config import explain_config
from explain.heatmaps import METHODS, Budget, MethodUnavailable, explain_heatmap, methods_for
from explain.models import Explanation
from explain.session_words import concepts_of, parts_of
from feedback.models import SearchIteration, SearchSession
from galleries.decoding import image_decode
from galleries.imaging import ImageRejected
from galleries.models import Image
from indexing.config import indexing_config
from indexing.encoders.base import EncoderUnavailable
from indexing.runtime import active_model_name, get_encoder

logger = logging.getLogger(__name__)

AUTO = "auto"
WORKING_SIDE = 1024  # pictures are reduced to this longer side before any method runs


def explain_budget() -> Budget:
    config = explain_config()
    return Budget(max_passes=config.max_passes, time_s=config.time_budget_s, grid=config.grid)


def method_checked(method: str | None) -> str:
    method = (method or AUTO).strip()
    if method != AUTO and method not in METHODS:
        raise InvalidInputError(
            f"method must be one of {', '.join([AUTO, *sorted(METHODS)])}.", code="invalid"
        )
    return method


def query_key(session: SearchSession, iteration: SearchIteration, method: str) -> str:
    """The cache key's query part: the vector searched with, the method, the composed query."""
    vector = np.asarray(iteration.query_vector, dtype="<f4").tobytes()
    described = {
        "method": method,
        "iteration_is_original": iteration.number == 0,
        "text": session.query_text,
        "negative_text": session.negative_text,
        "examples": session.example_image_ids,
        "negatives": session.negative_image_ids,
        "uploaded": session.uploaded_example,
        "composition": session.composition,
        "params": {k: session.params.get(k) for k in sorted(session.params or {})},
    }
    h = hashlib.sha256(vector)
    h.update(json.dumps(described, sort_keys=True, default=str).encode())
    return h.hexdigest()


def explanation_request(
    *, session: SearchSession, iteration: SearchIteration, image: Image, method: str
) -> Explanation:
    """The cached explanation, or a new pending one queued for the worker."""
    key = query_key(session, iteration, method)
    found = Explanation.objects.filter(
        model_name=session.model_name, image=image, query_hash=key
    ).first()
    if found is not None:
        return _retried_if_stale(found, iteration) or found
    if session.model_name != active_model_name():
        raise ConflictError(
            f"This search used {session.model_name}; the active model is now "
            f"{active_model_name()}. Search again to explain its results."
        )
    try:
        with transaction.atomic():
            row = Explanation.objects.create(
                model_name=session.model_name, image=image, query_hash=key, requested=method
            )
    except IntegrityError:  # a concurrent request created it first
        return Explanation.objects.get(model_name=session.model_name, image=image, query_hash=key)
    _enqueue(row.pk, iteration.pk)
    return row


def _retried_if_stale(row: Explanation, iteration: SearchIteration) -> Explanation | None:
    """A row failed or pending for CBIR_PENDING_RETRY_AFTER_S is queued again (a lost task,
    a busy decoder); the conditional UPDATE lets one request of many do it."""
    cutoff = timezone.now() - timedelta(seconds=indexing_config().pending_retry_after_s)
    if row.status == Explanation.Status.READY or row.updated_at > cutoff:
        return None
    claimed = Explanation.objects.filter(pk=row.pk, updated_at=row.updated_at).update(
        status=Explanation.Status.PENDING, error="", updated_at=timezone.now()
    )
    if claimed:
        _enqueue(row.pk, iteration.pk)
    row.refresh_from_db()
    return row


def _enqueue(explanation_id: int, iteration_id: int) -> None:
    from explain.tasks import explain_compute

    if site_config().background_tasks:
        transaction.on_commit(lambda: explain_compute.delay(explanation_id, iteration_id))


def explanation_compute(*, explanation_id: int, iteration_id: int) -> Explanation | None:
    """Compute a pending explanation; a finished or vanished one is left alone (safe twice)."""
    row = Explanation.objects.filter(pk=explanation_id).select_related("image").first()
    iteration = SearchIteration.objects.filter(pk=iteration_id).select_related("session").first()
    if row is None or row.status != Explanation.Status.PENDING:
        return row
    if iteration is None:
        return _failed(row, "The search session was deleted before its explanation ran.")
    try:
        fields = _computed(row, iteration)
    except (
        MethodUnavailable,
        ImageRejected,
        EncoderUnavailable,
        ApplicationError,  # the decoder busy: retried by a later request (_retried_if_stale)
        ValueError,
        OSError,
    ) as exc:
        return _failed(row, str(getattr(exc, "message", None) or exc))
    updated = Explanation.objects.filter(pk=row.pk, status=Explanation.Status.PENDING).update(
        status=Explanation.Status.READY, **fields
    )
    if updated:
        explanations_evict(keep=explain_config().cache_size)
    row.refresh_from_db()
    return row


def _computed(row: Explanation, iteration: SearchIteration) -> dict:
    encoder = get_encoder()
    if encoder.name != row.model_name:
        raise ValueError(f"The active model is {encoder.name}, not {row.model_name}.")
    picture = picture_load(row.image, min_side=encoder.image_size)
    query: np.ndarray = np.asarray(iteration.query_vector, dtype=np.float32)
    session = iteration.session
    method = row.requested if row.requested != AUTO else methods_for(encoder)[0]
    heat = explain_heatmap(
        method,
        encoder,
        picture,
        query,
        budget=explain_budget(),
        text=session.query_text or None,
    )
    words = {
        "concepts": concepts_of(encoder, picture, query),
        "parts": parts_of(encoder, session, iteration, row.image_id),
    }
    return {
        "method": heat.method,
        "grid": np.round(heat.grid, 3).tolist(),
        "words": words,
        "passes": heat.passes,
        "seconds": round(heat.seconds, 3),
        "complete": heat.complete,
    }


def picture_load(image: Image, *, min_side: int) -> PILImage:
    """Through the guarded decode, then reduced so that no method sees more than it needs."""
    with image.file.open("rb") as fh:
        picture = image_decode(fh.read(), min_side=min_side)
    factor = max(picture.size) // (2 * WORKING_SIDE)
    if factor >= 2:
        picture = picture.reduce(factor)
    picture.thumbnail((WORKING_SIDE, WORKING_SIDE))
    return picture.convert("RGB")


def _failed(row: Explanation, message: str) -> Explanation:
    Explanation.objects.filter(pk=row.pk).update(status=Explanation.Status.FAILED, error=message)
    row.refresh_from_db()
    return row


def explanations_evict(*, keep: int) -> int:
    """Delete the oldest rows beyond `keep` (after each write: usually one, or none)."""
    beyond = list(
        Explanation.objects.order_by("-created_at", "-id").values_list("id", flat=True)[keep:]
    )
    if not beyond:
        return 0
    deleted, _ = Explanation.objects.filter(id__in=beyond).delete()
    return deleted
