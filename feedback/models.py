"""Search sessions, their iterations, and the append-only log of relevance judgements.

A search by a signed-in user creates a session. Each iteration stores the
query vector it used and the ranked results it showed, so any earlier
iteration can be shown again and every judgement can say where it was made.
Judgements are never updated: changing or withdrawing one appends a new row,
and the current label of an image in a session is its latest row. The log is
what collection expansion learns from.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from pgvector.django import VectorField


class SearchSession(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="search_sessions"
    )
    model_name = models.CharField(max_length=200)
    query_text = models.TextField(blank=True)
    negative_text = models.TextField(blank=True)
    example_image_ids = models.JSONField(default=list, blank=True)
    negative_image_ids = models.JSONField(default=list, blank=True)
    uploaded_example = models.BooleanField(default=False, help_text="an uploaded image (not kept)")
    gallery_ids = models.JSONField(default=list, help_text="galleries searched at the start")
    mode = models.CharField(max_length=16)
    composition = models.CharField(max_length=16, default="sum")
    params = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.query_text or 'image query'} ({self.user})"


class SearchIteration(models.Model):
    class Kind(models.TextChoices):
        INITIAL = "initial", "initial query"
        FEEDBACK = "feedback", "Rocchio on the user's judgements"
        PSEUDO = "pseudo", "Rocchio on pseudo-relevance feedback"

    session = models.ForeignKey(SearchSession, on_delete=models.CASCADE, related_name="iterations")
    number = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=8, choices=Kind.choices)
    query_vector = VectorField()
    params = models.JSONField(default=dict, blank=True)
    # [[image_id, rank, score], ...] as shown
    results = models.JSONField(default=list)
    mode = models.CharField(max_length=16)
    total = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session", "number"]
        constraints = [
            models.UniqueConstraint(fields=["session", "number"], name="uniq_iteration_number"),
        ]

    def __str__(self) -> str:
        return f"iteration {self.number} of {self.session_id}"


class Judgement(models.Model):
    class Label(models.TextChoices):
        RELEVANT = "relevant", "relevant"
        NOT_RELEVANT = "not_relevant", "not relevant"
        WITHDRAWN = "withdrawn", "withdrawn"

    session = models.ForeignKey(SearchSession, on_delete=models.CASCADE, related_name="judgements")
    iteration = models.ForeignKey(
        SearchIteration, on_delete=models.CASCADE, related_name="judgements"
    )
    image = models.ForeignKey(
        "galleries.Image", on_delete=models.CASCADE, related_name="judgements"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="judgements"
    )
    label = models.CharField(max_length=16, choices=Label.choices)
    rank = models.PositiveIntegerField(null=True, help_text="where the image was shown")
    score = models.FloatField(null=True, help_text="its score there")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["session", "image", "-id"], name="judgement_latest")]

    def __str__(self) -> str:
        return f"{self.user} judged image {self.image_id} {self.label}"
