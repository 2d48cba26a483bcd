"""Embeddings (the source of truth for every search index) and the index change feed."""

from __future__ import annotations

from django.db import models
from pgvector.django import BitField, VectorField


class VarBitField(BitField):
    """A bit string of any length (pgvector's BitField without a length is bit(1))."""

    def db_type(self, connection) -> str:  # type: ignore[no-untyped-def]
        return "varbit" if self.length is None else super().db_type(connection)


class Embedding(models.Model):
    """One image's vector under one model.

    The column has no fixed dimension so that models of different sizes live
    side by side (changing the model never needs an ALTER TABLE); per-model
    HNSW indexes cast to the model's dimension (see pgvector_backend.py).
    """

    image = models.ForeignKey(
        "galleries.Image", on_delete=models.CASCADE, related_name="embeddings"
    )
    # Denormalised from image.gallery (which never changes) so that index loads need no join.
    gallery_id = models.BigIntegerField(db_index=True)
    model_name = models.CharField(max_length=200)
    dim = models.PositiveSmallIntegerField()
    vector = VectorField()
    # Semantic hash of the vector (bit = value > that dimension's collection threshold):
    # set once the model's HashingThresholds exist; 64 bytes for 512 dimensions.
    code = VarBitField(null=True, blank=True)
    # Querybank normalisation (search/calibration.py): the vector's mean and spread of
    # similarity to the bank of generic captions, and which bank (its key) they describe.
    bank_mean = models.FloatField(null=True, blank=True)
    bank_spread = models.FloatField(null=True, blank=True)
    bank_key = models.CharField(max_length=16, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["image", "model_name"], name="uniq_embedding_per_model"
            ),
        ]
        indexes = [models.Index(fields=["model_name", "id"], name="embedding_model_id")]

    def __str__(self) -> str:
        return f"{self.model_name} embedding of image {self.image_id}"


class IndexEvent(models.Model):
    """Change feed for in-memory indexes: 'image X changed, look again'.

    Written in the same transaction as the change (new embedding, deleted
    image). Each search process reads events past its cursor and reloads those
    images' embeddings, so applying an event twice is harmless.
    """

    id = models.BigAutoField(primary_key=True)
    image_id = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"event {self.id}: image {self.image_id}"


class IndexFeedState(models.Model):
    """Singleton row: events up to `pruned_through` have been deleted.

    A process whose cursor is older than that has missed events and rebuilds,
    as does one whose index was built under an older `generation`.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    pruned_through = models.BigIntegerField(default=0)
    # Bumped when every in-memory index must be rebuilt (e.g. hashing thresholds refitted).
    generation = models.BigIntegerField(default=0)
    # Bumped in the transaction that changes the active or candidate model (model_switch.py):
    # every process that reads the feed then reloads which encoder search uses.
    model_epoch = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"feed pruned through event {self.pruned_through}"


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


class HashingThresholds(models.Model):
    """Per-dimension thresholds of one model's semantic hash, fitted over the collection."""

    model_name = models.CharField(max_length=200, unique=True)
    method = models.CharField(max_length=8, choices=[("mean", "mean"), ("median", "median")])
    thresholds = VectorField()
    image_count = models.PositiveIntegerField(help_text="embeddings the fit covered")
    fitted_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "hashing thresholds"

    def __str__(self) -> str:
        return f"{self.method} hashing thresholds of {self.model_name}"


# Per-model cutoff parameters live in a module of their own (search/cutoffs.py resolves them).
from search.cutoff_models import CutoffCalibration, GalleryCutoffOverride  # noqa: E402, F401
from search.model_models import ManagedModel  # noqa: E402, F401
