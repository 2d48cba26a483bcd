"""Where every cutoff parameter comes from, per model (imported by search/models.py).

A cutoff parameter (T_static for image and text queries, w, n, and any a text
calibration adds) belongs to a model: distances mean something else under
another encoder, so a value fitted for one must never reach another's searches.
The deployment's settings are the defaults; fitted values and managers'
per-gallery overrides are rows here, each with the model it belongs to.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from cbir_site.choices import TextChoices


class CutoffSource(TextChoices):
    DEFAULT = "default", "default (the deployment's setting)"
    FITTED_COLLECTION = "fitted_collection", "fitted on the collection"
    FITTED_JUDGEMENTS = "fitted_judgements", "fitted on judgements"
    OVERRIDE = "override", "manager override"


class CutoffCalibration(models.Model):
    """A model's fitted value of one parameter; one row per (model, parameter, source).

    Both fits are kept: judgements, when there are enough, win over the collection.
    """

    FITTED = [CutoffSource.FITTED_COLLECTION, CutoffSource.FITTED_JUDGEMENTS]

    model_name = models.CharField(max_length=200)
    parameter = models.CharField(max_length=40)
    value = models.FloatField()
    source = models.CharField(max_length=20, choices=[(s.value, s.label) for s in FITTED])
    sample_size = models.PositiveIntegerField(help_text="images or marks the fit used")
    score = models.FloatField(null=True, blank=True, help_text="F1 on the marks (judgement fits)")
    detail = models.JSONField(default=dict, blank=True, help_text="how the value was obtained")
    fitted_at = models.DateTimeField()

    class Meta:
        ordering = ["model_name", "parameter", "source"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_name", "parameter", "source"], name="uniq_cutoff_calibration"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.parameter} = {self.value:g} for {self.model_name} ({self.source})"


class GalleryCutoffOverride(models.Model):
    """A gallery manager's value of one parameter for one model; wins over everything else."""

    gallery = models.ForeignKey(
        "galleries.Gallery", on_delete=models.CASCADE, related_name="cutoff_overrides"
    )
    model_name = models.CharField(max_length=200)
    parameter = models.CharField(max_length=40)
    value = models.FloatField()
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    set_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["gallery", "model_name", "parameter"]
        constraints = [
            models.UniqueConstraint(
                fields=["gallery", "model_name", "parameter"], name="uniq_gallery_cutoff_override"
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.parameter} = {self.value:g} for {self.model_name} in gallery {self.gallery_id}"
        )


class ModelScoreStatistics(models.Model):
    """The mean and covariance of a model's stored vectors (search/score_statistics.py).

    With them every text query's score distribution over the collection is
    known, q.mu and q' Sigma q, without scoring every image: the z_own of
    expected_f1's relevance model (search/text_cut_methods.py).
    """

    model_name = models.CharField(max_length=200, unique=True)
    image_count = models.PositiveIntegerField(help_text="vectors the statistics cover")
    dimension = models.PositiveIntegerField()
    mean = models.BinaryField(help_text="float32, dimension values")
    covariance = models.BinaryField(help_text="float32, dimension x dimension, row-major")
    computed_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "model score statistics"

    def __str__(self) -> str:
        return f"score statistics of {self.model_name} ({self.image_count} images)"
