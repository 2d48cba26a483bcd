"""One row per suggestion request: the API answers pending / ready / failed from it.

The suggestions are the provider's output after assistant/core.py's parsing:
plain text, bounded. Rows are the user's own; nobody else's request is ever shown.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from cbir_site.choices import TextChoices


class AssistRequest(models.Model):
    class Kind(TextChoices):
        REPHRASE = "rephrase", "rephrasings and negatives"
        COMPOSE = "compose", "image plus words merged"

    class Status(TextChoices):
        PENDING = "pending", "pending"
        READY = "ready", "ready"
        FAILED = "failed", "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    text = models.CharField(max_length=1000, blank=True)
    image = models.ForeignKey(
        "galleries.Image", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    k = models.PositiveSmallIntegerField(default=3)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    rephrasings = models.JSONField(default=list, blank=True)
    negatives = models.JSONField(default=list, blank=True)
    merged = models.CharField(max_length=200, blank=True)
    message = models.CharField(max_length=300, blank=True, help_text="why it failed, for the user")
    provider = models.CharField(max_length=16, blank=True)
    model_name = models.CharField(max_length=200, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0)
    cached = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.kind} request {self.pk} ({self.status})"
