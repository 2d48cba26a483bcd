"""Celery tasks for collection expansion: recompute from the log, in batches, safe to repeat."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.db.models import Q

from feedback.expansion_service import (
    expansion_pending_clear,
    expansions_update,
    refined_vectors_update,
)
from feedback.models import Expansion, Judgement, RefinedVector
from indexing.runtime import get_encoder

BATCH = 500


@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    max_retries=3,
    retry_backoff=10,
)
def update_expansions(image_ids: list[int]) -> int:
    expansion_pending_clear(image_ids)
    encoder = get_encoder()
    changed = set(expansions_update(image_ids=image_ids, encoder=encoder))
    changed |= set(refined_vectors_update(image_ids=image_ids, encoder=encoder))
    return len(changed)


def images_with_feedback() -> list[int]:
    """Every image the log or a derived expansion mentions (captions stand on their own)."""
    return sorted(
        set(Judgement.objects.values_list("image_id", flat=True).distinct())
        | set(
            Expansion.objects.filter(~Q(source=Expansion.Source.CAPTION)).values_list(
                "image_id", flat=True
            )
        )
        | set(RefinedVector.objects.values_list("image_id", flat=True))
    )


@shared_task(acks_late=True)
def refresh_expansions() -> int:
    """Daily: support decays with time, so every judged image is re-tallied."""
    ids = images_with_feedback()
    for start in range(0, len(ids), BATCH):
        update_expansions.delay(ids[start : start + BATCH])
    return len(ids)
