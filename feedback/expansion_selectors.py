"""Reads of expansions: what may be shown, and to whom."""

from __future__ import annotations

from django.db.models import QuerySet

from feedback.models import Expansion
from galleries.models import Image


def captions_of(image: Image) -> QuerySet[Expansion]:
    """Manager-entered captions in use: the only expansion texts shown to viewers."""
    return Expansion.objects.filter(
        image=image, source=Expansion.Source.CAPTION, status=Expansion.Status.APPROVED
    ).order_by("created_at")


def captions_by_image(image_ids: list[int]) -> dict[int, list[str]]:
    """The captions in use of many images at once, each text once (one query)."""
    rows = (
        Expansion.objects.filter(
            image_id__in=image_ids,
            source=Expansion.Source.CAPTION,
            status=Expansion.Status.APPROVED,
        )
        .order_by("created_at")
        .values_list("image_id", "text")
    )
    out: dict[int, list[str]] = {}
    for image_id, text in rows:
        texts = out.setdefault(image_id, [])
        if text not in texts:  # one caption per model: the same text shows once
            texts.append(text)
    return out
