"""Embedding pipeline services: compute, store, enqueue, sweep.

`images_embed` is what the Celery task runs. It is idempotent: images that
already have this model's embedding are skipped, the unique (image, model)
constraint absorbs a concurrent duplicate, and no transaction or row lock is
held while the model runs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from cbir_site.config import site_config
from galleries.decoding import image_decode
from galleries.imaging import ImageRejected
from galleries.models import Image
from indexing.config import indexing_config
from indexing.encoders.base import Encoder
from indexing.hashing_store import hash_codes, hashing_thresholds_for
from indexing.models import Embedding, IndexEvent, IndexFeedState
from indexing.querybank_store import query_bank
from indexing.runtime import get_encoder
from indexing.signals import embeddings_stored

logger = logging.getLogger(__name__)


_PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}


@dataclass
class EmbedReport:
    embedded: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)  # already had this model's embedding
    failed: dict[int, str] = field(default_factory=dict)
    missing: list[int] = field(default_factory=list)  # deleted before we got to them


def images_embed(
    *, image_ids: Sequence[int], encoder: Encoder | None = None, secondary: bool = False
) -> EmbedReport:
    """Embed these images with `encoder` (the active model's by default).

    secondary: a further model (a candidate catching up, a fused model): the images'
    status, attempts and failure reason are the active model's business and stay as
    they are; a failure is only reported.
    """
    encoder = encoder or get_encoder()
    report = EmbedReport()
    ids = sorted(set(image_ids))
    existing = set(Image.objects.filter(id__in=ids).values_list("id", flat=True))
    report.missing = [i for i in ids if i not in existing]
    done = set(
        Embedding.objects.filter(image_id__in=existing, model_name=encoder.name).values_list(
            "image_id", flat=True
        )
    )
    report.skipped = sorted(done)
    todo = list(Image.objects.filter(id__in=existing - done).order_by("id"))
    if todo and not secondary:
        Image.objects.filter(id__in=[i.id for i in todo]).update(attempts=F("attempts") + 1)

    pictures, decoded = [], []
    for image in todo:
        try:
            with image.file.open("rb") as fh:
                pictures.append(image_decode(fh.read(), min_side=encoder.image_size))
            decoded.append(image)
        except FileNotFoundError:
            report.failed[image.id] = "The stored file is missing."
        except ImageRejected as exc:  # stored before today's limits, or damaged since
            report.failed[image.id] = f"The stored file was refused: {exc.message}"
        except Exception as exc:  # a file that passed validation but no longer decodes
            report.failed[image.id] = f"The stored file could not be decoded: {exc}"
    vectors = encoder.encode_images(pictures) if pictures else np.zeros((0, encoder.dim))

    _store(encoder, decoded, vectors, report, secondary=secondary)
    if not secondary:
        # Images that already had the embedding may still say pending (a retried task): fix them.
        _mark_ready(report.skipped)
    if report.failed:
        logger.warning("Embedding failed for %d images: %s", len(report.failed), report.failed)
    return report


def embeddings_store(
    *, encoder: Encoder, images: Sequence[Image], vectors: np.ndarray
) -> EmbedReport:
    """Store vectors that `encoder` computed earlier (the evaluation's on-disk cache) exactly
    as images_embed stores its own: hash codes, ready status, feed events, statistics."""
    report = EmbedReport()
    _store(encoder, list(images), np.asarray(vectors, dtype=np.float32), report)
    return report


def _store(
    encoder: Encoder,
    images: list[Image],
    vectors: np.ndarray,
    report: EmbedReport,
    *,
    secondary: bool = False,
) -> None:
    with transaction.atomic():
        # Lock the rows briefly so an image deleted meanwhile is skipped, not an FK error.
        alive = set(
            Image.objects.select_for_update()
            .filter(id__in=[i.id for i in images] + list(report.failed))
            .values_list("id", flat=True)
        )
        codes = hash_codes(vectors, hashing_thresholds_for(encoder.name))
        bank = query_bank(encoder)  # querybank normalisation of text queries (calibration.py)
        empty = np.zeros(0, np.float32)
        means, spreads = bank.statistics(vectors) if len(vectors) else (empty, empty)
        rows = [
            Embedding(
                image_id=image.id,
                gallery_id=image.gallery_id,
                model_name=encoder.name,
                dim=encoder.dim,
                vector=vector,
                code=code,
                bank_mean=mean,
                bank_spread=spread,
                bank_key=bank.key,
            )
            for image, vector, code, mean, spread in zip(
                images, vectors, codes, means, spreads, strict=True
            )
            if image.id in alive
        ]
        Embedding.objects.bulk_create(rows, ignore_conflicts=True)
        report.embedded = [row.image_id for row in rows]
        report.missing += [i.id for i in images if i.id not in alive]
        if not secondary:
            _mark_ready(report.embedded)
            for image_id, reason in report.failed.items():
                Image.objects.filter(id=image_id).update(
                    status=Image.Status.FAILED, failure_reason=reason, updated_at=timezone.now()
                )
        IndexEvent.objects.bulk_create([IndexEvent(image_id=i) for i in report.embedded])
        if report.embedded:
            embeddings_stored.send(
                Embedding,
                gallery_ids=[i.gallery_id for i in images if i.id in alive],
                model_name=encoder.name,
            )


def _mark_ready(image_ids: Iterable[int]) -> None:
    ids = list(image_ids)
    if ids:
        now = timezone.now()
        Image.objects.filter(id__in=ids).exclude(status=Image.Status.READY).update(
            status=Image.Status.READY, failure_reason="", embedded_at=now, updated_at=now
        )


def embedding_enqueue(image_ids: Sequence[int]) -> None:
    """Queue embedding work in batches, once the current transaction has committed."""
    ids = list(image_ids)
    if not ids or not site_config().background_tasks:
        return
    size = site_config().embed_batch_size

    def send() -> None:
        from indexing.tasks import embed_images

        for start in range(0, len(ids), size):
            chunk = ids[start : start + size]
            try:
                embed_images.apply_async((chunk,), retry=True, retry_policy=_PUBLISH_RETRY)
            except Exception:
                # The rows are committed: the periodic sweep finds them. Never fail the upload.
                logger.exception("Could not enqueue embedding of images %s", chunk)

    # robust: a failing hook is logged, never raised into the request that committed the rows.
    transaction.on_commit(send, robust=True)


def images_mark_failed(*, image_ids: Sequence[int], reason: str) -> int:
    return (
        Image.objects.filter(id__in=image_ids)
        .exclude(status=Image.Status.READY)
        .update(status=Image.Status.FAILED, failure_reason=reason[:2000], updated_at=timezone.now())
    )


def images_pending_sweep(*, model_name: str, limit: int = 5000) -> list[int]:
    """Re-enqueue images left pending too long, and ready images the active model lacks.

    Images that used up their attempts are marked failed instead.
    """
    now = timezone.now()
    cutoff = now - timedelta(seconds=indexing_config().pending_retry_after_s)
    stale = Image.objects.filter(status=Image.Status.PENDING, updated_at__lt=cutoff)
    stale.filter(attempts__gte=indexing_config().embed_max_attempts).update(
        status=Image.Status.FAILED,
        failure_reason=f"Gave up after {indexing_config().embed_max_attempts} attempts.",
        updated_at=now,
    )
    retry = list(stale.values_list("id", flat=True)[:limit])
    uncovered = list(
        Image.objects.filter(status=Image.Status.READY)
        .exclude(embeddings__model_name=model_name)
        .values_list("id", flat=True)[: max(limit - len(retry), 0)]
    )
    ids = retry + uncovered
    with transaction.atomic():
        # Touch them so the next sweep waits another period before trying again.
        Image.objects.filter(id__in=retry).update(updated_at=now)
        embedding_enqueue(ids)
    return ids


def index_events_prune(*, older_than_s: int | None = None) -> int:
    """Delete old feed events; processes with older cursors rebuild (see index_sync)."""
    age = older_than_s if older_than_s is not None else indexing_config().index_event_retention_s
    cutoff = timezone.now() - timedelta(seconds=age)
    with transaction.atomic():
        last = (
            IndexEvent.objects.filter(created_at__lt=cutoff)
            .order_by("-id")
            .values_list("id", flat=True)
            .first()
        )
        if last is None:
            return 0
        state, _ = IndexFeedState.objects.select_for_update().get_or_create(pk=1)
        state.pruned_through = max(state.pruned_through, last)
        state.save(update_fields=["pruned_through"])
        deleted, _ = IndexEvent.objects.filter(id__lte=last).delete()
    return deleted
