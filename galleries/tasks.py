"""Maintenance tasks for galleries."""

from __future__ import annotations

from celery import shared_task

from galleries.services import uploads_abandoned_cleanup


@shared_task(acks_late=True)
def cleanup_abandoned_uploads() -> int:
    """Hourly: files of uploads whose process died before the row committed."""
    return len(uploads_abandoned_cleanup())
