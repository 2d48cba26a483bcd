"""Search: encode the query, search the galleries the caller may see, return ranked hits.

Scores are cosine similarities of unit vectors (higher is closer); each hit
also carries the Euclidean distance sqrt(2 - 2s) for callers that think in
distances. The permission filter is applied inside the index search.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from cbir_site.errors import (
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    ServiceUnavailableError,
)
from galleries import selectors
from galleries.imaging import ImageRejected, decode_rgb, validate_image
from galleries.models import Gallery, Image
from galleries.services import image_limits
from search.encoders.base import Encoder, EncoderUnavailable, l2_normalise
from search.index.base import cosine_to_euclidean
from search.index_sync import manager
from search.models import Embedding
from search.runtime import get_encoder

MAX_QUERY_CHARS = 1000
METRIC = "cosine_similarity"


@dataclass(frozen=True)
class SearchHit:
    rank: int
    image: Image
    score: float  # cosine similarity
    distance: float  # Euclidean distance between unit vectors


@dataclass(frozen=True)
class SearchResult:
    hits: list[SearchHit]
    model_name: str
    k: int
    galleries: list[Gallery]
    query_kinds: list[str]
    encode_ms: float
    search_ms: float
    metric: str = METRIC


def search_images(
    *,
    user: AbstractBaseUser | AnonymousUser,
    text: str | None = None,
    image_data: bytes | None = None,
    image_id: int | None = None,
    gallery_slugs: list[str] | None = None,
    k: int | None = None,
) -> SearchResult:
    k = _check_k(k)
    text = (text or "").strip() or None
    if text is None and image_data is None and image_id is None:
        raise InvalidInputError("Give a text query, an example image, or both.")
    if text is not None and len(text) > MAX_QUERY_CHARS:
        raise InvalidInputError(f"The text query is longer than {MAX_QUERY_CHARS} characters.")
    galleries = _galleries(user, gallery_slugs)
    example = selectors.image_get_visible(user, image_id=image_id) if image_id is not None else None

    encoder = _encoder()
    started = time.perf_counter()
    vector, kinds = _query_vector(encoder, text, image_data, example)
    encoded = time.perf_counter()

    state = manager.get(encoder.name)
    allowed = state.allowed_ids(g.pk for g in galleries)
    exclude = {example.pk} if example is not None else set()
    hits = state.index.search(vector, k + len(exclude), allowed).row(0) if state.index else []
    searched = time.perf_counter()

    hits = [(i, s) for i, s in hits if i not in exclude][:k]
    images = Image.objects.select_related("gallery").in_bulk([i for i, _ in hits])
    ranked = [
        SearchHit(rank=r, image=images[i], score=float(s), distance=float(cosine_to_euclidean(s)))
        for r, (i, s) in enumerate(((i, s) for i, s in hits if i in images), start=1)
    ]
    return SearchResult(
        hits=ranked,
        model_name=encoder.name,
        k=k,
        galleries=galleries,
        query_kinds=kinds,
        encode_ms=(encoded - started) * 1000,
        search_ms=(searched - encoded) * 1000,
    )


def _check_k(k: int | None) -> int:
    if k is None:
        return settings.CBIR_SEARCH_DEFAULT_K
    if not 1 <= k <= settings.CBIR_SEARCH_MAX_K:
        raise InvalidInputError(f"k must be between 1 and {settings.CBIR_SEARCH_MAX_K}.")
    return k


def _galleries(user: AbstractBaseUser | AnonymousUser, slugs: list[str] | None) -> list[Gallery]:
    visible = selectors.galleries_visible_to(user)
    if not slugs:
        return list(visible)
    found = {g.slug: g for g in visible.filter(slug__in=slugs)}
    unknown = [s for s in slugs if s not in found]
    if unknown:
        raise NotFoundError(f"No gallery named {', '.join(repr(s) for s in unknown)}.")
    return [found[s] for s in dict.fromkeys(slugs)]


def _encoder() -> Encoder:
    try:
        return get_encoder()
    except EncoderUnavailable as exc:
        raise ServiceUnavailableError(str(exc)) from exc


def _query_vector(
    encoder: Encoder, text: str | None, image_data: bytes | None, example: Image | None
) -> tuple[np.ndarray, list[str]]:
    """The normalised sum of the normalised parts: text, uploaded image, stored image."""
    parts, kinds = [], []
    if text is not None:
        parts.append(encoder.encode_texts([text])[0])
        kinds.append("text")
    if image_data is not None:
        parts.append(encoder.encode_images([_decode_upload(image_data, encoder)])[0])
        kinds.append("image")
    if example is not None:
        parts.append(_stored_vector(encoder, example))
        kinds.append("image_id")
    return l2_normalise(np.sum(parts, axis=0))[None, :], kinds


def _decode_upload(data: bytes, encoder: Encoder):  # type: ignore[no-untyped-def]
    try:
        validated = validate_image(data, image_limits())
    except ImageRejected as exc:
        error = PayloadTooLargeError if exc.code == "too_large" else InvalidInputError
        raise error(f"The example image was rejected: {exc.message}", code=exc.code) from exc
    return decode_rgb(validated.data, min_side=encoder.image_size)


def _stored_vector(encoder: Encoder, image: Image) -> np.ndarray:
    row = (
        Embedding.objects.filter(image=image, model_name=encoder.name)
        .values_list("vector", flat=True)
        .first()
    )
    if row is not None:
        return np.asarray(row, dtype=np.float32)
    with image.file.open("rb") as fh:
        return encoder.encode_images([decode_rgb(fh.read(), min_side=encoder.image_size)])[0]
