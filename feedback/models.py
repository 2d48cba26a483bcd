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

from cbir_site.choices import TextChoices
from search.request import Composition


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
    composition = models.CharField(max_length=16, default=Composition.SUM.value)
    params = models.JSONField(default=dict, blank=True)
    query_key = models.CharField(
        max_length=64, blank=True, help_text="digest of the query: identical searches share it"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "query_key", "-created_at"], name="session_history"),
        ]

    def __str__(self) -> str:
        # Shown in admin titles and delete confirmations: never the user (superusers only).
        return f"session {str(self.pk)[:8]}: {(self.query_text or 'image query')[:60]}"


class SearchIteration(models.Model):
    class Kind(TextChoices):
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
    class Label(TextChoices):
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
        # Shown to gallery managers (admin titles, history, delete confirmations): only
        # superusers may see who judged, so the text never names the user.
        return f"judgement {self.pk}: image {self.image_id} {self.get_label_display()}"


class Expansion(models.Model):
    """Text attached to an image as an extra search vector (collection expansion).

    From confirmed queries (users marked the image relevant for that query) or
    from captions a manager entered. The image's score is the maximum over its
    own vector and its admitted expansions. Query texts are private: they are
    used for scoring only and shown to nobody but the gallery's managers;
    captions are what everybody who may see the image sees.
    """

    class Source(TextChoices):
        QUERY = "query", "confirmed query"
        CAPTION = "caption", "caption (entered by a manager)"

    class Status(TextChoices):
        CANDIDATE = "candidate", "candidate (not enough support yet)"
        ADMITTED = "admitted", "admitted (used for search)"
        APPROVED = "approved", "approved by a manager (always used)"
        REMOVED = "removed", "removed by a manager (never used)"

    image = models.ForeignKey(
        "galleries.Image", on_delete=models.CASCADE, related_name="expansions"
    )
    gallery_id = models.BigIntegerField(db_index=True)  # denormalised, as on Embedding
    model_name = models.CharField(max_length=200)
    source = models.CharField(max_length=8, choices=Source.choices)
    text = models.TextField(help_text="as first written")
    text_key = models.CharField(max_length=300, help_text="normalised text: near-duplicates merge")
    vector = VectorField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CANDIDATE)
    support = models.FloatField(default=0, help_text="decayed confirmations minus rejections")
    supporters = models.PositiveIntegerField(default=0, help_text="distinct users confirming")
    rejections = models.PositiveIntegerField(default=0, help_text="distinct users rejecting")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["image", "-support"]
        constraints = [
            models.UniqueConstraint(
                fields=["image", "model_name", "text_key"], name="uniq_expansion_text"
            ),
        ]
        indexes = [models.Index(fields=["model_name", "status"], name="expansion_model_status")]

    def __str__(self) -> str:
        return f"{self.source} '{self.text[:40]}' on image {self.image_id}"


class RefinedVector(models.Model):
    """A frequently judged ("hot") image's search vector moved toward its confirmed queries.

    normalised(original + beta * mean(confirmed query vectors) - gamma * mean(rejected)),
    with the drift bounded (cosine to the original at least CBIR_HOT_MIN_COSINE). The
    original embedding is never overwritten; this row is derived and recomputable.
    """

    image = models.ForeignKey("galleries.Image", on_delete=models.CASCADE, related_name="+")
    model_name = models.CharField(max_length=200)
    vector = VectorField()
    cosine_to_original = models.FloatField()
    confirmed = models.PositiveIntegerField()
    rejected = models.PositiveIntegerField()
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["image", "model_name"], name="uniq_refined_vector"),
        ]

    def __str__(self) -> str:
        return f"refined {self.model_name} vector of image {self.image_id}"
