"""Reads about indexing state: per-gallery progress under the active and candidate models."""

from __future__ import annotations

from typing import Any

from galleries.models import Gallery
from galleries.selectors import gallery_status_counts
from indexing.encoders.base import EncoderUnavailable
from indexing.models import Embedding
from indexing.runtime import active_model_name, candidate_model_name


def gallery_indexing_status(gallery: Gallery) -> dict[str, Any]:
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
    candidate = None
    candidate_name = candidate_model_name()
    if candidate_name:
        done = Embedding.objects.filter(
            gallery_id=gallery.pk, model_name=candidate_name, image__status="ready"
        ).count()
        ready = counts["ready"]
        candidate = {
            "model_name": candidate_name,
            "indexed": done,
            "progress": 1.0 if ready == 0 else round(min(done / ready, 1.0), 4),
        }
    return {
        "gallery": gallery.slug,
        **counts,
        "model_name": model,
        "indexed": indexed,
        "progress": 1.0 if total == 0 else round(min(indexed / total, 1.0), 4),
        "candidate": candidate,
    }
