"""Cached explanations: one row per (model, image, query hash), the oldest evicted first.

The query hash covers the query vector, the requested method and the
composed query's description (explain/services.py `query_key`), so two
sessions asking the same thing share a row. Rows are derived data: deleting
any of them only costs recomputation.
"""

from __future__ import annotations

from django.db import models

from cbir_site.choices import TextChoices


class Explanation(models.Model):
    class Status(TextChoices):
        PENDING = "pending", "pending"
        READY = "ready", "ready"
        FAILED = "failed", "failed"

    model_name = models.CharField(max_length=200)
    image = models.ForeignKey("galleries.Image", on_delete=models.CASCADE, related_name="+")
    query_hash = models.CharField(max_length=64)
    requested = models.CharField(max_length=16, help_text="the method asked for (auto: default)")
    method = models.CharField(max_length=16, blank=True, help_text="the method that ran")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    grid = models.JSONField(default=list, blank=True, help_text="rows of heat in [0, 1]")
    words = models.JSONField(default=dict, blank=True, help_text="concepts and query parts")
    passes = models.PositiveIntegerField(default=0, help_text="pictures through the image tower")
    seconds = models.FloatField(default=0)
    complete = models.BooleanField(default=True, help_text="false: the time budget cut it short")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model_name", "image", "query_hash"], name="uniq_explanation_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.method or self.requested} explanation of image {self.image_id}"
