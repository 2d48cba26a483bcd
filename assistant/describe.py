"""A plain-text description of an example image, from what this user may see of it.

In order: captions a manager entered (everybody who may see the image sees
them); the confirmed-query expansions in use, only for the gallery's managers
(query texts are private to them, feedback/models.py); the bundled encoder's
top concepts; the captions of the image's nearest captioned neighbours among
the images this user may see. A caption on an image in a gallery the user
cannot see never reaches a prompt: every source starts from a visibility check.
"""

from __future__ import annotations

import logging

import numpy as np
from django.contrib.auth.models import AbstractBaseUser

from assistant.core import clean_line
from cbir_site.errors import ApplicationError
from feedback.models import Expansion
from galleries.decoding import image_decode
from galleries.imaging import ImageRejected
from galleries.models import Image
from galleries.selectors import galleries_managed_by, images_visible_to
from indexing.encoders.base import EncoderUnavailable
from indexing.runtime import get_encoder
from search.request import Mode, SearchRequest
from search.services import search_images

logger = logging.getLogger(__name__)

MAX_PHRASES = 6
MAX_DESCRIPTION_CHARS = 400
TOP_CONCEPTS = 3
NEIGHBOURS = 8
IN_USE = (Expansion.Status.ADMITTED, Expansion.Status.APPROVED)


def _captions(image_ids: list[int]) -> list[str]:
    rows = Expansion.objects.filter(
        image_id__in=image_ids, source=Expansion.Source.CAPTION, status=Expansion.Status.APPROVED
    ).order_by("created_at")
    by_image: dict[int, list[str]] = {}
    for row in rows:
        by_image.setdefault(row.image_id, []).append(row.text)
    return [text for i in image_ids for text in by_image.get(i, [])]


def _managed_queries(user: AbstractBaseUser, image: Image) -> list[str]:
    if not galleries_managed_by(user).filter(pk=image.gallery_id).exists():
        return []
    rows = Expansion.objects.filter(image=image, source=Expansion.Source.QUERY, status__in=IN_USE)
    return [row.text for row in rows.order_by("-support")]


def _concepts(image: Image) -> list[str]:
    try:
        encoder = get_encoder()
    except EncoderUnavailable:
        return []
    if not hasattr(encoder, "class_probabilities") or not hasattr(encoder, "class_names"):
        return []
    field = image.thumbnail if image.thumbnail else image.file
    try:
        with field.open("rb") as fh:
            picture = image_decode(fh.read(), min_side=16)
    except (OSError, ImageRejected):
        return []
    probs = encoder.class_probabilities([picture])[0]
    best = np.argsort(-probs)[:TOP_CONCEPTS]
    return [str(encoder.class_names[i]).replace("_", " ") for i in best]


def _neighbour_captions(user: AbstractBaseUser, image: Image) -> list[str]:
    try:
        result = search_images(
            user=user, request=SearchRequest(image_id=image.pk, k=NEIGHBOURS, mode=Mode.TOPK)
        )
    except (ApplicationError, EncoderUnavailable) as exc:
        logger.info("assistant: no neighbours for image %s: %s", image.pk, exc)
        return []
    return _captions([hit.image.pk for hit in result.hits if hit.image.pk != image.pk])


def image_describe(*, user: AbstractBaseUser, image_id: int) -> str:
    """Up to MAX_PHRASES distinct phrases, joined; "" when nothing is known."""
    image = images_visible_to(user).get(pk=image_id)  # callers checked it; DoesNotExist if not
    phrases: list[str] = []
    sources = (
        lambda: _captions([image.pk]),
        lambda: _managed_queries(user, image),
        lambda: _concepts(image),
        lambda: _neighbour_captions(user, image),
    )
    seen: set[str] = set()
    for source in sources:
        for text in source():
            line = clean_line(text)
            if line and line.casefold() not in seen:
                seen.add(line.casefold())
                phrases.append(line)
        if len(phrases) >= MAX_PHRASES:
            break
    return "; ".join(phrases[:MAX_PHRASES])[:MAX_DESCRIPTION_CHARS]
