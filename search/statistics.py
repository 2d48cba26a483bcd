"""Gallery statistics and dynamic thresholds: scheduling (debounced), computing, reading.

Writes go through gallery_statistics_update (m_g of one gallery, then M and
every gallery's thresholds) and thresholds_refresh (M and thresholds only).
Reads go through thresholds_for, which derives each gallery's cutoff from the
stored statistic and the current settings and overrides.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from cbir_site.config import site_config
from cbir_site.debounce import clear, debounce
from galleries.models import Gallery
from indexing.models import Embedding
from indexing.vector_io import load_vectors
from search.config import search_config
from search.cutoffs import CutoffValue, cutoff_parameters, cutoff_parameters_for
from search.models import GalleryStatistics
from search.thresholds import (
    ThresholdParams,
    dynamic_threshold,
    global_mean,
    mean_neighbour_distance,
)

logger = logging.getLogger(__name__)

TEXT, IMAGE = "text", "image"


def threshold_params(
    gallery: Gallery, kind: str, *, model_name: str | None = None
) -> ThresholdParams:
    """The gallery's parameters for a query kind under a model (search/cutoffs.py resolves
    them: the gallery's override for that model, a fitted value, else the setting).

    Without model_name, the active model's (callers that know the search's model pass it).
    """
    if model_name is None:
        from indexing.runtime import active_model_name

        model_name = active_model_name()
    return cutoff_parameters(model_name=model_name, gallery=gallery).threshold_params(kind)


# ---------------------------------------------------------------- scheduling


def _pending_key(gallery_id: int, model_name: str) -> str:
    return f"cbir:stats-pending:{model_name}:{gallery_id}"


def gallery_statistics_schedule(*, gallery_ids: list[int], model_name: str) -> list[int]:
    """Recompute these galleries' statistics once things have settled (debounced).

    The first change in a quiet gallery queues one task to run after
    CBIR_THRESHOLD_DEBOUNCE_S; later changes before it starts are covered by it
    (cbir_site/debounce.py).
    """
    from search.tasks import update_gallery_statistics

    if not site_config().background_tasks:
        return []
    delay = search_config().threshold_debounce_s

    def send(scheduled: list[int]) -> None:
        for gallery_id in scheduled:
            update_gallery_statistics.apply_async((gallery_id, model_name), countdown=delay)

    return debounce(
        gallery_ids,
        mark=lambda gallery_id: _pending_key(gallery_id, model_name),
        delay=delay,
        send=send,
        what="gallery statistics",
    )


# ---------------------------------------------------------------- computing


def gallery_statistics_update(*, gallery_id: int, model_name: str) -> GalleryStatistics | None:
    """Recompute m_g for one gallery, then M and every gallery's thresholds."""
    clear([gallery_id], mark=lambda g: _pending_key(g, model_name))
    gallery = Gallery.objects.filter(pk=gallery_id).first()
    if gallery is None:
        thresholds_refresh(model_name=model_name)
        return None
    loaded = load_vectors(model_name, gallery_ids=[gallery_id])
    count = len(loaded.image_ids)
    if count < max(search_config().threshold_min_images, 2):
        GalleryStatistics.objects.filter(gallery=gallery, model_name=model_name).delete()
        thresholds_refresh(model_name=model_name)
        return None
    params = threshold_params(gallery, IMAGE, model_name=model_name)
    sample = search_config().threshold_sample
    m_g = mean_neighbour_distance(
        loaded.vectors, params.neighbours, sample=sample if count > sample else None
    )
    stats, _ = GalleryStatistics.objects.update_or_create(
        gallery=gallery,
        model_name=model_name,
        defaults={
            "neighbours": params.neighbours,
            "image_count": count,
            "sampled": min(count, sample),
            "mean_distance": m_g,
            "computed_at": timezone.now(),
        },
    )
    thresholds_refresh(model_name=model_name)
    stats.refresh_from_db()
    return stats


def thresholds_refresh(*, model_name: str) -> float | None:
    """Recompute M from the stored m_g and set every gallery's thresholds (no m_g recomputed)."""
    with transaction.atomic():
        rows = list(
            GalleryStatistics.objects.select_for_update()
            .select_related("gallery")
            .filter(model_name=model_name)
        )
        overall = global_mean(r.mean_distance for r in rows)
        now = timezone.now()
        params = cutoff_parameters_for(model_name=model_name, galleries=[r.gallery for r in rows])
        for row in rows:
            row.global_mean = overall
            row.threshold_image = _threshold(
                row, params[row.gallery_id].threshold_params(IMAGE), overall
            )
            row.threshold_text = _threshold(
                row, params[row.gallery_id].threshold_params(TEXT), overall
            )
            row.thresholds_at = now
        GalleryStatistics.objects.bulk_update(
            rows, ["global_mean", "threshold_image", "threshold_text", "thresholds_at"]
        )
    return overall


def _threshold(
    row: GalleryStatistics, params: ThresholdParams, overall: float | None
) -> float | None:
    if overall is None:
        return None
    return dynamic_threshold(params, row.mean_distance, overall)


def stale_statistics(*, model_name: str) -> list[int]:
    """Galleries whose statistic is missing, covers a different number of images, or was
    computed with another n than the gallery's current one (a changed setting or override)."""
    counts = dict(
        Embedding.objects.filter(model_name=model_name)
        .values_list("gallery_id")
        .annotate(n=Count("id"))
        .values_list("gallery_id", "n")
    )
    rows = GalleryStatistics.objects.filter(model_name=model_name).select_related("gallery")
    covered = {r.gallery_id: r.image_count for r in rows}
    params = cutoff_parameters_for(model_name=model_name, galleries=[r.gallery for r in rows])
    other_n = {
        r.gallery_id
        for r in rows
        if r.neighbours != params[r.gallery_id].threshold_params(IMAGE).neighbours
    }
    minimum = max(search_config().threshold_min_images, 2)
    stale = {g for g, n in counts.items() if n >= minimum and covered.get(g) != n}
    stale |= {g for g in covered if counts.get(g, 0) < minimum}  # shrank below the minimum
    stale |= {g for g in other_n if counts.get(g, 0) >= minimum}
    return sorted(stale)


def gallery_thresholds_changed(*, gallery: Gallery) -> list[str]:
    """A manager changed the gallery's threshold overrides: bring what is stored in step.

    T_static and w only move the thresholds (refreshed now, for every gallery, as M
    is shared); a new n needs m_g recomputed (scheduled, debounced). Returns the
    models whose statistic of this gallery will be recomputed.
    """
    recompute = []
    for row in GalleryStatistics.objects.filter(gallery=gallery):
        thresholds_refresh(model_name=row.model_name)
        if row.neighbours != threshold_params(gallery, IMAGE, model_name=row.model_name).neighbours:
            gallery_statistics_schedule(gallery_ids=[gallery.pk], model_name=row.model_name)
            recompute.append(row.model_name)
    return recompute


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class GalleryThreshold:
    gallery_id: int
    distance: float  # Euclidean distance cutoff: a hit needs d(q, x) < distance
    source: str  # "dynamic" (from m_g and M) or "static" (no statistic for this gallery)
    params: ThresholdParams
    statistic: GalleryStatistics | None
    # Where each of params' values came from (search/cutoffs.py): static, weight, neighbours.
    parameters: dict[str, CutoffValue] = field(default_factory=dict)


def thresholds_for(
    galleries: list[Gallery], *, model_name: str, kind: str, dynamic: bool
) -> dict[int, GalleryThreshold]:
    """Each gallery's cutoff for this query kind; with dynamic=False the static one.

    The dynamic cutoff is derived here from the stored m_g and M with the
    current parameters, so a changed setting or override applies at once.
    """
    stats = {
        s.gallery_id: s
        for s in GalleryStatistics.objects.filter(
            model_name=model_name, gallery__in=galleries, global_mean__isnull=False
        )
    }
    resolved = cutoff_parameters_for(model_name=model_name, galleries=galleries)
    out = {}
    for gallery in galleries:
        params = resolved[gallery.pk].threshold_params(kind)
        used = resolved[gallery.pk].for_kind(kind)
        row = stats.get(gallery.pk) if dynamic else None
        if row is not None and row.neighbours == params.neighbours and row.global_mean is not None:
            distance = dynamic_threshold(params, row.mean_distance, row.global_mean)
            out[gallery.pk] = GalleryThreshold(gallery.pk, distance, "dynamic", params, row, used)
        else:
            out[gallery.pk] = GalleryThreshold(
                gallery.pk, params.static, "static", params, row, used
            )
    return out


def global_mean_for(model_name: str) -> float | None:
    row = (
        GalleryStatistics.objects.filter(model_name=model_name, global_mean__isnull=False)
        .values_list("global_mean", flat=True)
        .first()
    )
    return row
