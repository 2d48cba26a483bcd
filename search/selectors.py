"""Reads about indexing state."""

from __future__ import annotations

from galleries.models import Gallery
from galleries.selectors import gallery_status_counts
from search.encoders.base import EncoderUnavailable
from search.models import Embedding
from search.runtime import active_model_name


def gallery_indexing_status(gallery: Gallery) -> dict[str, object]:
    """Per-gallery progress: image counts by status and how many the active model covers."""
    counts = gallery_status_counts(gallery)
    try:
        model = active_model_name()
    except EncoderUnavailable:
        model = None
    indexed = (
        Embedding.objects.filter(gallery_id=gallery.pk, model_name=model).count() if model else 0
    )
    total = counts["total"]
    return {
        "gallery": gallery.slug,
        **counts,
        "model_name": model,
        "indexed": indexed,
        "progress": 1.0 if total == 0 else round(min(indexed / total, 1.0), 4),
    }
