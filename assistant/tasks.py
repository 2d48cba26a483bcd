"""Celery task on the `assist` queue (CBIR_ASSIST_QUEUE): an id in, the service does the work."""

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
def assist_compute(request_id: str) -> str | None:
    from assistant.services import assist_compute as compute

    row = compute(request_id=request_id)
    return row.status if row is not None else None
