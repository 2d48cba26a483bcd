"""Querybank statistics: computed with each embedding, backfilled, read at search time.

Each Embedding row carries its vector's mean and spread of similarity to the
bank of generic captions (indexing/querybank/generic_captions.txt) and the bank's
key: a hash of the model name and the captions, so a changed bank or model
marks every row stale. The worker fills them in the same transaction as the
vector (indexing/embedding.py); `querybank_backfill` (the `cbir_querybank`
command) fills rows stored before, or under another bank.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from django.db.models import Q

from indexing.calibration import bank_statistics, load_bank
from indexing.encoders.base import Encoder
from indexing.models import Embedding
from indexing.vector_io import iter_embeddings

_lock = threading.Lock()
# The bank's vectors per encoder instance: encoded once per process (161 short texts).
_banks: weakref.WeakKeyDictionary[Encoder, QueryBank] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class QueryBank:
    key: str  # stored with each row's statistics
    vectors: np.ndarray  # (b, d) unit rows in the encoder's space

    def statistics(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return bank_statistics(vectors, self.vectors)


def bank_key(model_name: str, captions: Sequence[str]) -> str:
    return hashlib.sha256("\n".join([model_name, *captions]).encode()).hexdigest()[:16]


def query_bank(encoder: Encoder) -> QueryBank:
    """The bank's vectors under this encoder (encoded on first use, then kept)."""
    bank = _banks.get(encoder)
    if bank is None:
        with _lock:
            bank = _banks.get(encoder)
            if bank is None:
                captions = load_bank()
                vectors = encoder.encode_texts(captions)
                bank = QueryBank(bank_key(encoder.name, captions), vectors)
                _banks[encoder] = bank
    return bank


def stale_rows(model_name: str, key: str) -> Q:
    return Q(model_name=model_name) & (~Q(bank_key=key) | Q(bank_mean__isnull=True))


def querybank_backfill(
    *,
    encoder: Encoder,
    batch_size: int = 2000,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Fill the statistics of this model's rows that lack them (or describe another bank).

    Safe to run twice, and alongside the worker: it only writes stale rows,
    each with the statistics of its own vector. Returns the rows written.
    """
    bank = query_bank(encoder)
    written = 0
    while True:
        ids = list(
            Embedding.objects.filter(stale_rows(encoder.name, bank.key))
            .order_by("id")
            .values_list("image_id", flat=True)[:batch_size]
        )
        if not ids:
            return written
        done = _write(encoder.name, bank, ids)
        written += done
        if on_progress:
            on_progress(done)
        if done == 0:  # rows deleted under us: nothing left we could fill
            return written


def _write(model_name: str, bank: QueryBank, image_ids: list[int]) -> int:
    rows = []
    for chunk in iter_embeddings(model_name, image_ids=image_ids):
        means, spreads = bank.statistics(chunk.vectors)
        rows += list(zip(chunk.image_ids.tolist(), means.tolist(), spreads.tolist(), strict=True))
    by_image = {image_id: (mean, spread) for image_id, mean, spread in rows}
    found = list(Embedding.objects.filter(model_name=model_name, image_id__in=list(by_image)))
    for row in found:
        row.bank_mean, row.bank_spread = by_image[row.image_id]
        row.bank_key = bank.key
    Embedding.objects.bulk_update(found, ["bank_mean", "bank_spread", "bank_key"])
    return len(found)


def querybank_missing(*, model_name: str, key: str) -> int:
    return Embedding.objects.filter(stale_rows(model_name, key)).count()


def bank_statistics_for(
    *, model_name: str, bank: QueryBank, image_ids: Iterable[int]
) -> dict[int, tuple[float, float]]:
    """(mean, spread) per image; rows not filled yet are computed from their vectors."""
    wanted = list(image_ids)
    stored = Embedding.objects.filter(
        model_name=model_name, image_id__in=wanted, bank_key=bank.key, bank_mean__isnull=False
    ).values_list("image_id", "bank_mean", "bank_spread")
    out = {image_id: (mean, spread) for image_id, mean, spread in stored}
    missing = [i for i in wanted if i not in out]
    if missing:
        for chunk in iter_embeddings(model_name, image_ids=missing):
            means, spreads = bank.statistics(chunk.vectors)
            pairs = zip(means.tolist(), spreads.tolist(), strict=True)
            out.update(zip(chunk.image_ids.tolist(), pairs, strict=True))
    return out
