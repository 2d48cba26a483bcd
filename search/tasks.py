"""Search's Celery tasks (statistics, cutoff fits, model switch): safe to run twice.

acks_late + reject_on_worker_lost (settings) mean a worker killed in the
middle of a batch loses nothing: the broker redelivers the message and the
service skips what is already stored.
"""

from __future__ import annotations

import logging

from celery import shared_task

from indexing.hashing_store import hashing_refit_if_stale
from indexing.runtime import active_model_name, candidate_model_name
from indexing.tasks import TRANSIENT_ERRORS
from search.cutoff_fit import (
    calibrated_models,
    collection_fit_due,
    cutoffs_fit_from_collection,
    cutoffs_fit_from_judgements,
    judgement_fits_due,
)
from search.statistics import (
    gallery_statistics_schedule,
    gallery_statistics_update,
    stale_statistics,
)

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, autoretry_for=TRANSIENT_ERRORS, max_retries=5, retry_backoff=10)
def model_catch_up() -> dict[str, object]:
    """One batch of the candidate's re-embedding (maintenance queue); queues the next."""
    from search.model_switch import catch_up_batch

    result = catch_up_batch()
    if result.get("more"):
        model_catch_up.delay()
    return result


@shared_task(acks_late=True)
def model_switch_check() -> dict[str, object]:
    """Periodic: switch to a ready candidate; restart its catch-up if the chain was lost."""
    from search.model_switch import catch_up_start, model_switch_if_ready

    switched = model_switch_if_ready()
    restarted = False if switched else catch_up_start() if candidate_model_name() else False
    return {"switched": switched.key if switched else None, "catch_up_queued": restarted}


@shared_task(acks_late=False)
def model_pull_task(key: str, activate: bool = False) -> dict[str, object]:
    """Download a model in the background (the admin, the API, `./cbir up`)."""
    from search.model_jobs import model_pull_recorded

    return model_pull_recorded(key=key, activate=activate)


def _switch_check_for(model_name: str) -> None:
    if model_name == candidate_model_name():
        from search.model_switch import model_switch_if_ready

        model_switch_if_ready()


@shared_task(acks_late=True, autoretry_for=TRANSIENT_ERRORS, max_retries=3, retry_backoff=10)
def update_gallery_statistics(gallery_id: int, model_name: str) -> float | None:
    stats = gallery_statistics_update(gallery_id=gallery_id, model_name=model_name)
    hashing_refit_if_stale(model_name=model_name)  # per model: usually nothing to do
    if collection_fit_due(model_name=model_name):  # a model without fitted cutoffs gets them
        fit_cutoffs_from_collection.delay(model_name)
    else:
        _switch_check_for(model_name)  # a candidate may have been waiting for this statistic
    return stats.mean_distance if stats else None


@shared_task(acks_late=True, autoretry_for=TRANSIENT_ERRORS, max_retries=3, retry_backoff=10)
def fit_cutoffs_from_collection(model_name: str) -> list[str]:
    fitted = cutoffs_fit_from_collection(model_name=model_name)
    _switch_check_for(model_name)  # a candidate waits for its own cutoffs
    return fitted


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
    scheduled = []
    for model_name in filter(None, [active_model_name(), candidate_model_name()]):
        stale = stale_statistics(model_name=model_name)
        scheduled += gallery_statistics_schedule(gallery_ids=stale, model_name=model_name)
    return scheduled
