"""The one way other apps tell indexing that images changed.

Galleries reach it through their signals (galleries/signals.py, connected in
`IndexingConfig.ready()`); feedback, which sits above indexing, calls it
directly. Each change writes `IndexEvent` rows in the caller's transaction:
every search process reads the feed past its cursor and reloads those images,
so announcing an image twice is harmless.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import transaction

from galleries.services import images_mark_pending
from indexing.embedding import embedding_enqueue
from indexing.models import Embedding, IndexEvent


def vectors_changed(image_ids: Iterable[int]) -> None:
    """The images' vectors (or their extra vectors) changed or went: reload them."""
    IndexEvent.objects.bulk_create([IndexEvent(image_id=i) for i in image_ids])


def images_stored(image_ids: Sequence[int]) -> None:
    """New images to embed, queued once the current transaction commits."""
    embedding_enqueue(image_ids)


def images_reembed(*, image_ids: Sequence[int], model_name: str | None) -> int:
    """Queue images for embedding again (the admin's action), dropping the stored vectors
    of `model_name` (the active model) so that the new ones replace them."""
    with transaction.atomic():
        if model_name:
            Embedding.objects.filter(image_id__in=image_ids, model_name=model_name).delete()
            vectors_changed(image_ids)
        images_mark_pending(image_ids)
        embedding_enqueue(image_ids)
    return len(image_ids)


def on_images_stored(sender: object, *, image_ids: Sequence[int], **_: object) -> None:
    images_stored(image_ids)


def on_images_removed(sender: object, *, image_ids: Sequence[int], **_: object) -> None:
    vectors_changed(image_ids)
