"""Search: encode the query, search the galleries the caller may see, return ranked hits.

Scores are cosine similarities of unit vectors (higher is closer); each hit
also carries the Euclidean distance sqrt(2 - 2s), the unit thresholds are
expressed in. The permission filter is applied inside the backend's search.

Modes: topk returns the k best. static, dynamic and query return every hit
closer than its gallery's cutoff (paginated, not cut at k): static uses
T_static, dynamic T_g = T_static + w (m_g - M) from the gallery's statistic,
query the query-time variant (m from the query's own top-n in the gallery).
auto is dynamic when every searched gallery has a statistic, else topk.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

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
from search.backends import Hit, get_backend
from search.encoders.base import Encoder, EncoderUnavailable, l2_normalise
from search.index.base import cosine_to_euclidean
from search.models import Embedding
from search.runtime import get_encoder
from search.statistics import IMAGE, TEXT, GalleryThreshold, global_mean_for, thresholds_for
from search.thresholds import dynamic_threshold, query_statistic, similarity_cutoff

MAX_QUERY_CHARS = 1000
METRIC = "cosine_similarity"
MODES = ("auto", "topk", "static", "dynamic", "query")


@dataclass(frozen=True)
class SearchHit:
    rank: int
    image: Image
    score: float  # cosine similarity
    distance: float  # Euclidean distance between unit vectors


@dataclass(frozen=True)
class ThresholdUsed:
    gallery: Gallery
    distance: float  # hits have a Euclidean distance below this
    similarity: float  # ... that is, a cosine similarity above this
    source: str  # dynamic, static or query


@dataclass(frozen=True)
class SearchResult:
    hits: list[SearchHit]  # this page
    model_name: str
    k: int
    galleries: list[Gallery]
    query_kinds: list[str]
    encode_ms: float
    search_ms: float
    mode: str = "topk"
    total: int = 0  # every hit of the search (threshold modes: above the cutoff)
    page: int = 1
    page_size: int = 0
    truncated: bool = False  # threshold modes: stopped at CBIR_THRESHOLD_MAX_RESULTS
    thresholds: list[ThresholdUsed] = field(default_factory=list)
    metric: str = METRIC


def search_images(
    *,
    user: AbstractBaseUser | AnonymousUser,
    text: str | None = None,
    image_data: bytes | None = None,
    image_id: int | None = None,
    gallery_slugs: list[str] | None = None,
    k: int | None = None,
    mode: str | None = None,
    page: int = 1,
    page_size: int | None = None,
) -> SearchResult:
    k = _check_k(k)
    mode = mode or settings.CBIR_SEARCH_DEFAULT_MODE
    if mode not in MODES:
        raise InvalidInputError(f"mode must be one of {', '.join(MODES)}.")
    if page < 1:
        raise InvalidInputError("page starts at 1.")
    page_size = _check_k(page_size) if page_size is not None else k
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

    query = _Query(encoder.name, vector[0], galleries, {example.pk} if example else set())
    kind = TEXT if kinds == ["text"] else IMAGE
    thresholds = _resolve_mode(query, mode, kind)
    if thresholds is None:
        resolved_mode, hits, truncated = "topk", query.top_k(k), False
        hits_page, total = hits, len(hits)
    else:
        resolved_mode = mode if mode != "auto" else "dynamic"
        hits, truncated = query.above(thresholds)
        total = len(hits)
        hits_page = hits[(page - 1) * page_size : page * page_size]
    searched = time.perf_counter()

    offset = 0 if thresholds is None else (page - 1) * page_size
    return SearchResult(
        hits=_load(hits_page, offset),
        model_name=encoder.name,
        k=k,
        galleries=galleries,
        query_kinds=kinds,
        encode_ms=(encoded - started) * 1000,
        search_ms=(searched - encoded) * 1000,
        mode=resolved_mode,
        total=total,
        page=page if thresholds is not None else 1,
        page_size=page_size if thresholds is not None else k,
        truncated=truncated,
        thresholds=[_used(t, query.by_id) for t in (thresholds or {}).values()],
    )


@dataclass
class _Query:
    model_name: str
    vector: np.ndarray
    galleries: list[Gallery]
    exclude: set[int]

    @property
    def gallery_ids(self) -> list[int]:
        return [g.pk for g in self.galleries]

    @property
    def by_id(self) -> dict[int, Gallery]:
        return {g.pk: g for g in self.galleries}

    def top_k(self, k: int) -> list[Hit]:
        hits = get_backend().top_k(
            self.model_name, self.vector, k + len(self.exclude), self.gallery_ids
        )
        return [h for h in hits if h.image_id not in self.exclude][:k]

    def above(self, thresholds: dict[int, GalleryThreshold]) -> tuple[list[Hit], bool]:
        cutoffs = {g: similarity_cutoff(t.distance) for g, t in thresholds.items()}
        limit = settings.CBIR_THRESHOLD_MAX_RESULTS + len(self.exclude)
        # One search at the loosest cutoff, then each gallery's own cutoff.
        hits = get_backend().above(
            self.model_name, self.vector, min(cutoffs.values()), self.gallery_ids, limit
        )
        truncated = len(hits) >= limit
        kept = [
            h for h in hits if h.image_id not in self.exclude and h.score > cutoffs[h.gallery_id]
        ]
        return kept[: settings.CBIR_THRESHOLD_MAX_RESULTS], truncated


def _resolve_mode(query: _Query, mode: str, kind: str) -> dict[int, GalleryThreshold] | None:
    """Each searched gallery's cutoff for this mode, or None for a top-k search."""
    if mode == "topk" or not query.galleries:
        return None
    if mode == "query":
        return _query_time_thresholds(query, kind)
    thresholds = thresholds_for(
        query.galleries, model_name=query.model_name, kind=kind, dynamic=mode != "static"
    )
    if mode == "auto" and any(t.source != "dynamic" for t in thresholds.values()):
        return None
    return thresholds


def _query_time_thresholds(query: _Query, kind: str) -> dict[int, GalleryThreshold]:
    """T = T_static + w (m_q,g - M), with m_q,g from the query's own top-n in gallery g."""
    static = thresholds_for(query.galleries, model_name=query.model_name, kind=kind, dynamic=False)
    overall = global_mean_for(query.model_name)
    if overall is None:
        return static  # no statistics yet anywhere: the static cutoffs (reported as such)
    backend = get_backend()
    out = {}
    for gallery_id, base in static.items():
        n = base.params.neighbours
        top = backend.top_k(query.model_name, query.vector, n + len(query.exclude), [gallery_id])
        scores = np.asarray([h.score for h in top if h.image_id not in query.exclude][:n])
        m_q = query_statistic(scores, n)
        if m_q is None:
            out[gallery_id] = base
            continue
        distance = dynamic_threshold(base.params, m_q, overall)
        out[gallery_id] = GalleryThreshold(gallery_id, distance, "query", base.params, None)
    return out


def _used(threshold: GalleryThreshold, galleries: dict[int, Gallery]) -> ThresholdUsed:
    return ThresholdUsed(
        gallery=galleries[threshold.gallery_id],
        distance=threshold.distance,
        similarity=similarity_cutoff(threshold.distance),
        source=threshold.source,
    )


def _load(hits: list[Hit], offset: int) -> list[SearchHit]:
    images = Image.objects.select_related("gallery").in_bulk([h.image_id for h in hits])
    present = [h for h in hits if h.image_id in images]  # deleted since the index saw them
    return [
        SearchHit(
            rank=offset + n,
            image=images[h.image_id],
            score=h.score,
            distance=float(cosine_to_euclidean(h.score)),
        )
        for n, h in enumerate(present, start=1)
    ]


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
