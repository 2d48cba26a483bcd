"""Semantic hashing in the database: fitted thresholds per model and a code per embedding.

hashing_fit streams the model's vectors once (mean: exact; median: from a
sample), stores the thresholds, and recomputes every stored code inside
PostgreSQL with pgvector's binary_quantize(vector - thresholds): bit = 1 where
the value exceeds its dimension's threshold. In-memory binary indexes are
rebuilt by every process afterwards (the feed generation moves).
"""

from __future__ import annotations

import numpy as np
from django.db import connection, transaction
from django.utils import timezone
from pgvector import Bit

from indexing.config import indexing_config
from indexing.feed_control import feed_generation_bump
from indexing.hashing import encode, fit_thresholds
from indexing.models import Embedding, HashingThresholds
from indexing.vector_io import iter_embeddings

_TABLE = Embedding._meta.db_table


def hashing_thresholds_for(model_name: str) -> np.ndarray | None:
    row = HashingThresholds.objects.filter(model_name=model_name).values_list(
        "thresholds", flat=True
    )
    value = row.first()
    return None if value is None else np.asarray(value, dtype=np.float32)


# A fit is redone once the collection has grown or shrunk by this fraction since it:
# thresholds move little once a collection is large, and a refit re-codes every row.
REFIT_CHANGE = 0.5


def hashing_refit_if_stale(*, model_name: str) -> HashingThresholds | None:
    """Fit when the model has never been fitted, or its collection changed much since.

    Run by the debounced statistics task, so a deployment that picks a binary
    backend never hashes against unfitted (zero) thresholds for long.
    """
    count = Embedding.objects.filter(model_name=model_name).count()
    fitted = HashingThresholds.objects.filter(model_name=model_name).first()
    if count == 0:
        return None
    current = (
        fitted is not None
        and fitted.method == indexing_config().hashing_method
        and abs(count - fitted.image_count) < REFIT_CHANGE * max(fitted.image_count, 1)
    )
    return None if current else hashing_fit(model_name=model_name)


def hashing_fit(*, model_name: str, method: str | None = None) -> HashingThresholds | None:
    """Fit the model's thresholds over its stored vectors and re-code every embedding."""
    method = method or indexing_config().hashing_method
    count = Embedding.objects.filter(model_name=model_name).count()
    if count == 0:
        return None
    chunks = (c.vectors for c in iter_embeddings(model_name))
    thresholds = fit_thresholds(chunks, method=method)
    with transaction.atomic():
        row, _ = HashingThresholds.objects.update_or_create(
            model_name=model_name,
            defaults={
                "method": method,
                "thresholds": thresholds,
                "image_count": count,
                "fitted_at": timezone.now(),
            },
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {_TABLE} SET code = binary_quantize(vector - %s::vector)::varbit "
                "WHERE model_name = %s",
                [_vector_literal(thresholds), model_name],
            )
        if indexing_config().index_backend.startswith("faiss-binary"):
            feed_generation_bump()  # binary indexes hash with the thresholds: rebuild them
    return row


def hash_codes(vectors: np.ndarray, thresholds: np.ndarray | None) -> list[str | None]:
    """Codes for new embeddings (bit strings for the varbit column), or None before a fit."""
    if thresholds is None or len(vectors) == 0:
        return [None] * len(vectors)
    packed = encode(np.asarray(vectors, dtype=np.float32), thresholds)
    dim = thresholds.shape[0]
    return [Bit(np.unpackbits(row, count=dim).astype(bool)).to_text() for row in packed]


def _vector_literal(values: np.ndarray) -> str:
    return "[" + ",".join(f"{float(v):.9g}" for v in values) + "]"
