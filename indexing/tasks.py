"""Indexing's Celery tasks: take ids, call a service, safe to run twice.

acks_late + reject_on_worker_lost (settings) mean a worker killed in the
middle of a batch loses nothing: the broker redelivers the message and the
service skips what is already stored.
"""

from __future__ import annotations

import logging

from celery import Task, shared_task
from django.db import DatabaseError, InterfaceError, OperationalError

from indexing.embedding import (
    images_embed,
    images_mark_failed,
    images_pending_sweep,
    index_events_prune,
)
from indexing.encoders.base import EncoderUnavailable
from indexing.runtime import (
    active_model_name,
    fusion_encoders,
    get_candidate_encoder,
    model_selection,
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
    model_selection(fresh=True)  # a switch may have happened since this worker last looked
    report = images_embed(image_ids=image_ids)
    done = report.embedded + report.skipped
    for extra in fusion_encoders()[1:]:  # further models whose rankings are fused
        images_embed(image_ids=done, encoder=extra, secondary=True)
    candidate = _candidate_encoder()
    if candidate is not None and done:  # during a switch, uploads are embedded by both
        images_embed(image_ids=done, encoder=candidate, secondary=True)
    return {
        "embedded": len(report.embedded),
        "skipped": len(report.skipped),
        "failed": len(report.failed),
        "missing": len(report.missing),
    }


def _candidate_encoder():  # type: ignore[no-untyped-def]
    try:
        return get_candidate_encoder()
    except EncoderUnavailable as exc:  # the catch-up task records it; uploads go on
        logger.error("The candidate model cannot be loaded here: %s", exc)
        return None


@shared_task(acks_late=True, autoretry_for=(DatabaseError,), max_retries=3, retry_backoff=10)
def sweep_pending_images() -> int:
    return len(images_pending_sweep(model_name=active_model_name()))


@shared_task(acks_late=True)
def prune_index_events() -> int:
    return index_events_prune()
