"""Celery tasks: take ids, call a service, safe to run twice.

acks_late + reject_on_worker_lost (settings) mean a worker killed in the
middle of a batch loses nothing: the broker redelivers the message and the
service skips what is already stored.
"""

from __future__ import annotations

import logging

from celery import Task, shared_task
from django.db import DatabaseError, InterfaceError, OperationalError

from search.cutoff_fit import (
    calibrated_models,
    collection_fit_due,
    cutoffs_fit_from_collection,
    cutoffs_fit_from_judgements,
    judgement_fits_due,
)
from search.embedding import (
    images_embed,
    images_mark_failed,
    images_pending_sweep,
    index_events_prune,
)
from search.encoders.base import EncoderUnavailable
from search.hashing_store import hashing_refit_if_stale
from search.runtime import active_model_name, fusion_encoders
from search.statistics import (
    gallery_statistics_schedule,
    gallery_statistics_update,
    stale_statistics,
)

logger = logging.getLogger(__name__)

# Worth another try: the database or the broker hiccuped, memory ran short for a batch.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, MemoryError, TimeoutError, ConnectionError)


class EmbedTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo):  # type: ignore[no-untyped-def]
        image_ids = kwargs.get("image_ids") or (args[0] if args else [])
        if isinstance(exc, EncoderUnavailable):
            # A configuration problem, not the images' fault: leave them pending for the sweep.
            logger.error("Encoder unavailable; %d images stay pending: %s", len(image_ids), exc)
            return
        images_mark_failed(image_ids=image_ids, reason=f"Embedding failed: {exc}")


@shared_task(
    base=EmbedTask,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=5,
)
def embed_images(self: Task, image_ids: list[int]) -> dict[str, int]:
    report = images_embed(image_ids=image_ids)
    for extra in fusion_encoders()[1:]:  # further models whose rankings are fused
        images_embed(image_ids=report.embedded + report.skipped, encoder=extra)
    return {
        "embedded": len(report.embedded),
        "skipped": len(report.skipped),
        "failed": len(report.failed),
        "missing": len(report.missing),
    }


@shared_task(acks_late=True, autoretry_for=(DatabaseError,), max_retries=3, retry_backoff=10)
def sweep_pending_images() -> int:
    return len(images_pending_sweep(model_name=active_model_name()))


@shared_task(acks_late=True)
def prune_index_events() -> int:
    return index_events_prune()


@shared_task(acks_late=True, autoretry_for=TRANSIENT_ERRORS, max_retries=3, retry_backoff=10)
def update_gallery_statistics(gallery_id: int, model_name: str) -> float | None:
    stats = gallery_statistics_update(gallery_id=gallery_id, model_name=model_name)
    hashing_refit_if_stale(model_name=model_name)  # per model: usually nothing to do
    if collection_fit_due(model_name=model_name):  # a model without fitted cutoffs gets them
        fit_cutoffs_from_collection.delay(model_name)
    return stats.mean_distance if stats else None


@shared_task(acks_late=True, autoretry_for=TRANSIENT_ERRORS, max_retries=3, retry_backoff=10)
def fit_cutoffs_from_collection(model_name: str) -> list[str]:
    return cutoffs_fit_from_collection(model_name=model_name)


@shared_task(acks_late=True, autoretry_for=TRANSIENT_ERRORS, max_retries=3, retry_backoff=10)
def fit_cutoffs_from_judgements(model_name: str) -> list[str]:
    return cutoffs_fit_from_judgements(model_name=model_name)


@shared_task(acks_late=True)
def refresh_cutoff_calibrations() -> dict[str, list[str]]:
    """Periodic: refit from the judgement log where it grew, from collections where due."""
    queued: dict[str, list[str]] = {}
    for model_name in judgement_fits_due():
        fit_cutoffs_from_judgements.delay(model_name)
        queued.setdefault(model_name, []).append("judgements")
    for model_name in calibrated_models():
        if collection_fit_due(model_name=model_name):
            fit_cutoffs_from_collection.delay(model_name)
            queued.setdefault(model_name, []).append("collection")
    return queued


@shared_task(acks_late=True)
def refresh_stale_statistics() -> list[int]:
    """Belt and braces for the debounced updates: catch galleries whose statistic drifted."""
    model_name = active_model_name()
    stale = stale_statistics(model_name=model_name)
    return gallery_statistics_schedule(gallery_ids=stale, model_name=model_name)
