"""Celery task on the `explain` queue (CBIR_EXPLAIN_QUEUE): ids in, the service does the work."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    max_retries=3,
    retry_backoff=5,
)
def explain_compute(explanation_id: int, iteration_id: int) -> str | None:
    from explain.services import explanation_compute

    row = explanation_compute(explanation_id=explanation_id, iteration_id=iteration_id)
    return row.status if row is not None else None
