"""What indexing stores: embeddings per model, the index feed, hashing thresholds, models.

The tables keep the names they were created with (`search_*`): the models moved
into this app without a database change (migrations search 0007 / indexing 0001).
"""

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
    # Querybank normalisation (indexing/calibration.py): the vector's mean and spread of
    # similarity to the bank of generic captions, and which bank (its key) they describe.
    bank_mean = models.FloatField(null=True, blank=True)
    bank_spread = models.FloatField(null=True, blank=True)
    bank_key = models.CharField(max_length=16, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "search_embedding"
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

    class Meta:
        db_table = "search_indexevent"

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

    class Meta:
        db_table = "search_indexfeedstate"

    def __str__(self) -> str:
        return f"feed pruned through event {self.pruned_through}"


class HashingThresholds(models.Model):
    """Per-dimension thresholds of one model's semantic hash, fitted over the collection."""

    model_name = models.CharField(max_length=200, unique=True)
    method = models.CharField(max_length=8, choices=[("mean", "mean"), ("median", "median")])
    thresholds = VectorField()
    image_count = models.PositiveIntegerField(help_text="embeddings the fit covered")
    fitted_at = models.DateTimeField()

    class Meta:
        db_table = "search_hashingthresholds"
        verbose_name_plural = "hashing thresholds"

    def __str__(self) -> str:
        return f"{self.method} hashing thresholds of {self.model_name}"


from indexing.model_models import ManagedModel  # noqa: E402, F401
