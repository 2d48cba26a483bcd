"""What search keeps: per-gallery statistics and per-model cutoff parameters."""

from __future__ import annotations

from django.db import models


class GalleryStatistics(models.Model):
    """A gallery's neighbour statistic under one model, and the thresholds it gives.

    m_g (mean_distance) is recomputed when the gallery's images change
    (debounced); M (global_mean) and the thresholds are refreshed for every
    gallery whenever any m_g changes, without recomputing the others' m_g.
    """

    gallery = models.ForeignKey(
        "galleries.Gallery", on_delete=models.CASCADE, related_name="statistics"
    )
    model_name = models.CharField(max_length=200)
    neighbours = models.PositiveSmallIntegerField(help_text="n used for m_g")
    image_count = models.PositiveIntegerField(help_text="images the statistic covers")
    sampled = models.PositiveIntegerField(help_text="images used as queries (all, or a sample)")
    mean_distance = models.FloatField(help_text="m_g, Euclidean distance")
    global_mean = models.FloatField(null=True, help_text="M when the thresholds were last set")
    threshold_image = models.FloatField(null=True, help_text="T_g for image queries")
    threshold_text = models.FloatField(null=True, help_text="T_g for text queries")
    computed_at = models.DateTimeField(help_text="when m_g was computed")
    thresholds_at = models.DateTimeField(null=True, help_text="when M and T_g were last set")

    class Meta:
        verbose_name_plural = "gallery statistics"
        constraints = [
            models.UniqueConstraint(fields=["gallery", "model_name"], name="uniq_stats_per_model"),
        ]

    def __str__(self) -> str:
        return f"{self.model_name} statistics of gallery {self.gallery_id}"


# Per-model cutoff parameters live in a module of their own (search/cutoffs.py resolves them).
from search.cutoff_models import (  # noqa: E402, F401
    CutoffCalibration,
    GalleryCutoffOverride,
    ModelScoreStatistics,
)
