"""The mean and covariance of a model's vectors: each text query's own score distribution.

A text query q's similarity to an image x is q.x. Over the model's collection
its mean is q.mu and its variance q' Sigma q (mu, Sigma: the mean and
covariance of the stored vectors), so a score's z against the query's own
distribution, z_own = (s - q.mu) / sqrt(q' Sigma q), costs one d x d product
per query instead of scoring every image. expected_f1's relevance model uses
it (search/text_cut_methods.py).

Computed in one streamed pass over the model's embeddings (sums of x and of
x x'), exact for any collection size: 100,000 vectors of 512 dimensions are
about 2.6 * 10^10 multiply-adds, seconds with BLAS. Refreshed with the
collection fit (search/cutoff_fit.py) and before a judgement fit.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.utils import timezone

from indexing.vector_io import iter_embeddings
from search.cutoff_models import ModelScoreStatistics
from search.text_cut_methods import own_z

MIN_IMAGES = 20  # below this a covariance says little: the label-free relevance model serves
REFRESH_CHANGE = 0.1  # recomputed when the model's image count moved by a tenth


@dataclass(frozen=True)
class ScoreStatistics:
    model_name: str
    image_count: int
    mean: np.ndarray  # (d,)
    covariance: np.ndarray  # (d, d)
    computed_at: datetime

    def own_z(self, scores: np.ndarray, query: np.ndarray) -> np.ndarray:
        return own_z(scores, query, self.mean, self.covariance)


_cache: dict[str, ScoreStatistics] = {}
_lock = threading.Lock()


def score_statistics_refresh(
    *, model_name: str, gallery_ids: Sequence[int] | None = None
) -> ScoreStatistics | None:
    """Recompute and store the model's statistics; None (and the row removed) below MIN_IMAGES.

    Over the model's whole collection, or over these galleries only (the evaluation
    measures one dataset in a database that may hold others).
    """
    count = 0
    total: np.ndarray | None = None
    outer: np.ndarray | None = None
    for chunk in iter_embeddings(model_name, gallery_ids=gallery_ids):
        x = chunk.vectors.astype(np.float64)
        total = x.sum(axis=0) + (0.0 if total is None else total)
        outer = x.T @ x + (0.0 if outer is None else outer)
        count += len(x)
    if count < MIN_IMAGES or total is None or outer is None:
        ModelScoreStatistics.objects.filter(model_name=model_name).delete()
        return None
    mean = (total / count).astype(np.float32)
    covariance = (outer / count - np.outer(total / count, total / count)).astype(np.float32)
    row, _ = ModelScoreStatistics.objects.update_or_create(
        model_name=model_name,
        defaults={
            "image_count": count,
            "dimension": len(mean),
            "mean": mean.tobytes(),
            "covariance": covariance.tobytes(),
            "computed_at": timezone.now(),
        },
    )
    return _remember(row, mean, covariance)


def score_statistics_due(*, model_name: str, image_count: int) -> bool:
    row = ModelScoreStatistics.objects.filter(model_name=model_name).values("image_count").first()
    if row is None:
        return image_count >= MIN_IMAGES
    return abs(image_count - row["image_count"]) > REFRESH_CHANGE * max(row["image_count"], 1)


def score_statistics(*, model_name: str) -> ScoreStatistics | None:
    """The stored statistics; kept in memory until a newer computation is stored."""
    stamp = (
        ModelScoreStatistics.objects.filter(model_name=model_name)
        .values_list("computed_at", flat=True)
        .first()
    )
    if stamp is None:
        _cache.pop(model_name, None)
        return None
    known = _cache.get(model_name)
    if known is not None and known.computed_at == stamp:
        return known
    row = ModelScoreStatistics.objects.filter(model_name=model_name).first()
    if row is None:
        return None
    d = row.dimension
    return _remember(
        row,
        np.frombuffer(bytes(row.mean), dtype=np.float32),
        np.frombuffer(bytes(row.covariance), dtype=np.float32).reshape(d, d),
    )


def _remember(
    row: ModelScoreStatistics, mean: np.ndarray, covariance: np.ndarray
) -> ScoreStatistics:
    """The statistics as stored (float32), kept in memory until a newer computation."""
    loaded = ScoreStatistics(
        model_name=row.model_name,
        image_count=row.image_count,
        mean=mean.astype(np.float64),
        covariance=covariance.astype(np.float64),
        computed_at=row.computed_at,
    )
    with _lock:
        _cache[row.model_name] = loaded
    return loaded
