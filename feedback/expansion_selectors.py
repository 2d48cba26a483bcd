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
