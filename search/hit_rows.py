"""The Image rows behind a search's hits, read in as few queries as the answer allows.

At a large k (the evaluation asks for the whole collection) the rows are most of a
search's time: one Image, one Gallery and one User instance per hit is what
`select_related` builds, and a placeholder per id is what `pk__in=[...]` sends.
Here the ids travel as one array parameter and each distinct gallery and uploader
is read once and shared by its images (as prefetch_related does), which keeps the
same attributes (`image.gallery`, `image.uploaded_by`) without a query per hit.
benchmarks/bench_query.py --large-k measures it against the select_related path.
"""

from __future__ import annotations

from collections.abc import Collection

from django.contrib.auth import get_user_model
from django.db.models.expressions import RawSQL

from galleries.models import Gallery, Image


def images_with_owners(image_ids: Collection[int]) -> dict[int, Image]:
    """id -> Image, with its gallery and uploader loaded, for the ids that still exist."""
    if not image_ids:
        return {}
    ids = RawSQL("SELECT unnest(%s::bigint[])", [[int(i) for i in image_ids]])
    images = {image.pk: image for image in Image.objects.filter(pk__in=ids).order_by()}
    galleries = Gallery.objects.in_bulk({image.gallery_id for image in images.values()})
    uploader_ids = {image.uploaded_by_id for image in images.values()} - {None}
    uploaders = get_user_model().objects.in_bulk(uploader_ids)
    out = {}
    for image_id, image in images.items():
        gallery = galleries.get(image.gallery_id)
        if gallery is None:  # deleted between the two reads: its images went with it
            continue
        image.gallery = gallery
        if image.uploaded_by_id is not None:
            # An uploader deleted meanwhile reads as none, as the row will (SET_NULL).
            image.uploaded_by = uploaders.get(image.uploaded_by_id)
        out[image_id] = image
    return out
