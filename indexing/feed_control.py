"""Moves of the index feed that every search process obeys."""

from __future__ import annotations

from django.db.models import F

from indexing.models import IndexFeedState


def feed_generation_bump() -> int:
    """Tell every process to rebuild its indexes from pgvector (in the background);
    return the new generation."""
    IndexFeedState.objects.get_or_create(pk=1)
    IndexFeedState.objects.filter(pk=1).update(generation=F("generation") + 1)
    return int(IndexFeedState.objects.values_list("generation", flat=True).get(pk=1))
