"""Search: encode the query, search the galleries the caller may see, return ranked hits.

Scores are cosine similarities of unit vectors (higher is closer); each hit
also carries the Euclidean distance sqrt(2 - 2s), the unit thresholds are
expressed in. The permission filter is applied inside the backend's search.

Modes: topk returns the k best. static, dynamic and query return every hit
closer than its gallery's cutoff (paginated, not cut at k): static uses
T_static, dynamic T_g = T_static + w (m_g - M) from the gallery's statistic,
query the query-time variant (m from the query's own top-n in the gallery).
auto is dynamic when every searched gallery has a statistic, else topk.
Text and composed queries in auto/dynamic mode get a calibrated cutoff instead of
the image statistic (CBIR_TEXT_CUTOFF, search/text_cutoff.py).
A cutoff search that keeps nothing also returns its closest results, below the
cutoff (search/fallback.py), unless the caller asks for `strict`.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from cbir_site.config import site_config
from cbir_site.errors import (
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    ServiceUnavailableError,
)
from galleries import selectors
from galleries.models import Gallery
from indexing.backend_base import Hit
from indexing.backends import get_backend
from indexing.encoders.base import Encoder, EncoderUnavailable
from indexing.index.base import cosine_to_euclidean
from indexing.runtime import (
    fusion_encoders,
    get_candidate_encoder,
    get_encoder,
    model_selection,
)
from indexing.vector_io import load_vectors
from search.compose import two_phase
from search.config import search_config
from search.fallback import closest_count, closest_notice, closest_wanted
from search.fusion import METHODS as FUSION_METHODS
from search.hit_rows import images_with_owners
from search.query import EncodedQuery, encode_query
from search.rephrased import search_rephrased
from search.request import Composition, Mode, ModelRole, QueryKind, SearchRequest
from search.result_filters import filters_given, ranking_narrow
from search.results import METRIC, SearchHit, SearchResult, ThresholdUsed
from search.statistics import IMAGE, TEXT, GalleryThreshold, global_mean_for, thresholds_for
from search.text_cutoff import CALIBRATED, TextCut, text_cut, text_cutoff_method, valid_methods
from search.thresholds import dynamic_threshold, query_statistic, similarity_cutoff


def search_images(
    *,
    user: AbstractBaseUser | AnonymousUser,
    request: SearchRequest,
    vector: np.ndarray | None = None,
    vector_kind: str = TEXT,
    hide_ids: Collection[int] = (),
    load_hits: bool = True,
) -> SearchResult:
    """Search with `request`'s query and options (search/request.py).

    Or with `vector`, a query already in the model's space (a refined query
    from relevance feedback; `vector_kind` picks its thresholds: text or
    image); then the request's query parts are not used. `hide_ids` are never
    returned (images the user already judged).
    `request.strict` leaves a cutoff search that kept nothing empty (no closest results).
    `request.text_cutoff` picks the calibration of a text or composed query's cutoff in auto
    and dynamic mode (search/text_cutoff.py; default CBIR_TEXT_CUTOFF).
    `request.model` candidate (staff only) searches with the model catching up to replace the
    active one, over the images it has embedded so far, to check it before the switch.
    `request.filters` (gallery, uploaded_after, uploaded_before, uploader, format, sort:
    search/result_filters.py) narrow and order the results, `total` and `closest`;
    `ranked` stays the search's whole ranking, so a session can be filtered again later.
    `load_hits=False` is for callers that only score the ranking (the evaluation, with k
    the whole collection): the same search, but `hits` and `closest` stay empty and no
    image row is read, which at thousands of hits is most of the time.
    """
    text_cutoff = request.text_cutoff
    if text_cutoff is not None and text_cutoff not in valid_methods():
        raise InvalidInputError(f"text_cutoff must be one of {', '.join(valid_methods())}.")
    if request.rephrasings:  # accepted suggestions, fused with the original: search/rephrased.py

        def search(each: SearchRequest) -> SearchResult:
            return search_images(user=user, request=each, vector=vector, hide_ids=hide_ids)

        return search_rephrased(search=search, request=request, vector_given=vector is not None)
    default_negative = search_config().negative_weight
    spec = (
        request.cleaned(default_negative_weight=default_negative)
        if vector is None
        else SearchRequest(negative_weight=default_negative)
    )
    k = _check_k(request.k)
    mode = request.mode or Mode(search_config().default_mode)
    if spec.composition == Composition.TWO_PHASE and mode not in (Mode.TOPK, Mode.AUTO):
        raise InvalidInputError("two_phase ranks a fixed set of candidates: use mode topk.")
    page = request.page
    if page < 1:
        raise InvalidInputError("page starts at 1.")
    page_size = _check_k(request.page_size) if request.page_size is not None else k
    galleries = _galleries(user, request.gallery_slugs)
    filters = request.filters

    encoder = _encoder(request.model, user)
    started = time.perf_counter()
    if vector is None:
        encoded = encode_query(spec, encoder, user)
        vector, kinds = encoded.summed(spec), encoded.kinds
        kind = TEXT if kinds == [QueryKind.TEXT] else IMAGE
    else:
        encoded, kinds, kind = None, [QueryKind.VECTOR], vector_kind
    encoded_at = time.perf_counter()

    excluded = (encoded.excluded_ids if encoded else set()) | set(hide_ids)
    q = _Query(encoder.name, np.asarray(vector, dtype=np.float32), galleries, excluded)
    method = text_cutoff_method(text_cutoff) if QueryKind.TEXT in kinds or kind == TEXT else None
    two_phase_ = spec.composition == Composition.TWO_PHASE
    cut = None if two_phase_ else _text_cut(q, mode, method, encoder)
    if cut is not None:
        thresholds: dict[int, GalleryThreshold] | None = cut.thresholds
    elif not two_phase_:
        thresholds = _resolve_mode(q, _text_mode(mode, method), kind)
    else:
        thresholds = None
    if two_phase_ and encoded is not None:
        resolved_mode, hits, truncated = Mode.TOPK, _two_phase(q, spec, encoded, k), False
    elif thresholds is None:
        fused = _fused_models(q, spec, user, k) if encoded is not None else None
        resolved_mode, hits, truncated = Mode.TOPK, fused or q.top_k(k), False
    else:
        resolved_mode = mode if mode != Mode.AUTO else Mode.DYNAMIC
        hits, truncated = q.above(thresholds, k)
        if cut is not None and cut.keep is not None:
            hits = cut.keep(hits)
    shown = _narrow(user, hits, filters)
    total = len(shown)
    hits_page = shown if thresholds is None else shown[(page - 1) * page_size : page * page_size]
    closest: list[Hit] = []
    if closest_wanted(thresholded=thresholds is not None, total=total, strict=request.strict):
        closest = _narrow(user, q.top_k(closest_count(k)), filters)  # same vector and exclusions
    searched = time.perf_counter()

    offset = 0 if thresholds is None else (page - 1) * page_size
    if not load_hits:
        hits_page, closest = [], []
    below = _load(closest, 0, below_cutoff=True)
    return SearchResult(
        hits=_load(hits_page, offset),
        model_name=encoder.name,
        k=k,
        galleries=galleries,
        query_kinds=kinds,
        encode_ms=(encoded_at - started) * 1000,
        search_ms=(searched - encoded_at) * 1000,
        mode=resolved_mode,
        total=total,
        page=page if thresholds is not None else 1,
        page_size=page_size if thresholds is not None else k,
        truncated=truncated,
        thresholds=_report(q, thresholds),
        metric=_metric(spec, thresholds is None and encoded is not None),
        vector=q.vector,
        composition=spec.composition,
        ranked=[(h.image_id, h.score) for h in hits],
        closest=below,
        notice=closest_notice(below),
    )


def _narrow(
    user: AbstractBaseUser | AnonymousUser, hits: list[Hit], filters: Mapping[str, Any] | None
) -> list[Hit]:
    """The hits that pass the result filters, in the order they ask for."""
    if not filters_given(filters):
        return hits
    by_id = {h.image_id: h for h in hits}
    order = ranking_narrow(user=user, ranked_ids=list(by_id), data=filters)
    return [by_id[i] for i in order]


def _text_cut(q: _Query, mode: Mode, method: str | None, encoder: Encoder) -> TextCut | None:
    """A calibrated cutoff for a text or composed query in auto or dynamic mode, else None.

    auto keeps its rule: a cutoff for galleries with a statistic (enough images to judge),
    the best k of the others.
    """
    if method not in CALIBRATED or mode not in (Mode.AUTO, Mode.DYNAMIC) or not q.galleries:
        return None
    galleries = q.galleries
    if mode == Mode.AUTO:
        stats = thresholds_for(galleries, model_name=q.model_name, kind=TEXT, dynamic=True)
        galleries = [g for g in galleries if stats[g.pk].source == "dynamic"]
        if not galleries:
            return None
    scope = _Query(q.model_name, q.vector, galleries, q.exclude)
    return text_cut(
        method=method, encoder=encoder, galleries=galleries, top_k=scope.top_k, vector=q.vector
    )


def _text_mode(mode: Mode, method: str | None) -> Mode:
    """CBIR_TEXT_CUTOFF=querytime: a text query's auto/dynamic cutoff is the query-time one."""
    return Mode.QUERY if method == "querytime" and mode in (Mode.AUTO, Mode.DYNAMIC) else mode


def _metric(spec: SearchRequest, top_k: bool) -> str:
    if spec.composition == Composition.TWO_PHASE:
        return f"fusion:{spec.fusion}"
    if top_k and fusion_encoders():
        return f"fusion:{search_config().fusion_method}"
    return METRIC


def _fused_models(
    q: _Query, spec: SearchRequest, user: AbstractBaseUser | AnonymousUser, k: int
) -> list[Hit] | None:
    """Top k fused over the encoders of CBIR_FUSION_ENCODERS, or None when there is one."""
    encoders = fusion_encoders()
    if not encoders:
        return None
    rankings, galleries = [], {}
    for encoder in encoders:
        vector = q.vector if encoder.name == q.model_name else _encode_for(spec, encoder, user)
        hits = _Query(encoder.name, vector, q.galleries, q.exclude).top_k(k)
        rankings.append([h.image_id for h in hits])
        galleries.update({h.image_id: h.gallery_id for h in hits})
    fused = FUSION_METHODS[search_config().fusion_method](rankings)
    return [Hit(int(i), galleries[i], float(score)) for i, score in fused[:k]]


def _encode_for(
    spec: SearchRequest, encoder: Encoder, user: AbstractBaseUser | AnonymousUser
) -> np.ndarray:
    return encode_query(spec, encoder, user).summed(spec)


def _two_phase(q: _Query, spec: SearchRequest, encoded: EncodedQuery, k: int) -> list[Hit]:
    """Top M by the words, re-ranked by the example images, the two rankings fused."""
    first = spec.first_phase or max(search_config().two_phase_candidates, k)
    text_only = _Query(q.model_name, encoded.text_side(spec), q.galleries, q.exclude)
    candidates = text_only.top_k(first)
    if not candidates:
        return []
    loaded = load_vectors(q.model_name, image_ids=[h.image_id for h in candidates])
    by_id = dict(zip(loaded.image_ids.tolist(), loaded.vectors, strict=True))
    kept = [h for h in candidates if h.image_id in by_id]
    fused = two_phase(
        [h.image_id for h in kept],
        np.stack([by_id[h.image_id] for h in kept]),
        encoded.examples,
        encoded.negatives,
        negative_weight=spec.negative_share,
        fusion=spec.fusion,
    )
    galleries = {h.image_id: h.gallery_id for h in kept}
    return [Hit(i, galleries[i], score) for i, score in fused[:k]]


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

    def above(self, thresholds: dict[int, GalleryThreshold], k: int) -> tuple[list[Hit], bool]:
        """Every hit above its gallery's cutoff; galleries without one (auto mode) add their
        best k. Best first."""
        cutoffs = {g: similarity_cutoff(t.distance) for g, t in thresholds.items()}
        limit = search_config().threshold_max_results + len(self.exclude)
        # One search at the loosest cutoff, then each gallery's own cutoff.
        hits = get_backend().above(
            self.model_name, self.vector, min(cutoffs.values()), list(cutoffs), limit
        )
        truncated = len(hits) >= limit
        kept = [
            h for h in hits if h.image_id not in self.exclude and h.score > cutoffs[h.gallery_id]
        ]
        rest = [g for g in self.galleries if g.pk not in cutoffs]
        if rest:
            kept += _Query(self.model_name, self.vector, rest, self.exclude).top_k(k)
            kept.sort(key=lambda h: -h.score)
        return kept[: search_config().threshold_max_results], truncated


def _resolve_mode(query: _Query, mode: Mode, kind: str) -> dict[int, GalleryThreshold] | None:
    """Each searched gallery's cutoff for this mode, or None for a top-k search."""
    if mode == Mode.TOPK or not query.galleries:
        return None
    if mode == Mode.QUERY:
        return _query_time_thresholds(query, kind)
    thresholds = thresholds_for(
        query.galleries, model_name=query.model_name, kind=kind, dynamic=mode != Mode.STATIC
    )
    if mode == Mode.AUTO:
        # Per gallery: the dynamic cutoff where there is a statistic, top-k elsewhere.
        dynamic = {g: t for g, t in thresholds.items() if t.source == "dynamic"}
        return dynamic or None
    return thresholds


def _query_time_thresholds(query: _Query, kind: str) -> dict[int, GalleryThreshold]:
    """T = T_static + w (m_q,g - M), with m_q,g from the query's own top-n in gallery g.

    For image queries M is the deployment's mean of m_g: an image query's distances
    to its neighbours are on the scale of the images' own. Text-to-image distances
    are on another scale (much larger for CLIP-like models), so for text queries M is
    the mean of m_q,g over the searched galleries: the cutoff still widens where the
    query's neighbours are far and narrows where they are close, around T_static.
    """
    static = thresholds_for(query.galleries, model_name=query.model_name, kind=kind, dynamic=False)
    backend = get_backend()
    own: dict[int, float] = {}
    for gallery_id, base in static.items():
        n = base.params.neighbours
        top = backend.top_k(query.model_name, query.vector, n + len(query.exclude), [gallery_id])
        m_q = query_statistic(
            np.asarray([h.score for h in top if h.image_id not in query.exclude][:n]), n
        )
        if m_q is not None:
            own[gallery_id] = m_q
    overall = global_mean_for(query.model_name) if kind == IMAGE else None
    if kind != IMAGE and own:
        overall = float(np.mean(list(own.values())))
    if overall is None:
        return static  # no statistics yet anywhere: the static cutoffs (reported as such)
    out = dict(static)
    for gallery_id, m_q in own.items():
        base = static[gallery_id]
        distance = dynamic_threshold(base.params, m_q, overall)
        out[gallery_id] = replace(base, distance=distance, source="query", statistic=None)
    return out


def _report(q: _Query, thresholds: dict[int, GalleryThreshold] | None) -> list[ThresholdUsed]:
    if thresholds is None:
        return []
    used = [_used(t, q.by_id) for t in thresholds.values()]
    return used + [
        ThresholdUsed(g, None, None, "topk") for g in q.galleries if g.pk not in thresholds
    ]


def _used(threshold: GalleryThreshold, galleries: dict[int, Gallery]) -> ThresholdUsed:
    return ThresholdUsed(
        gallery=galleries[threshold.gallery_id],
        distance=threshold.distance,
        similarity=similarity_cutoff(threshold.distance),
        source=threshold.source,
        parameters={
            name: {"value": v.value, "source": v.source} for name, v in threshold.parameters.items()
        },
    )


def _load(hits: list[Hit], offset: int, *, below_cutoff: bool = False) -> list[SearchHit]:
    # uploaded_by too: the output names the uploader, one query per hit otherwise (issue 12).
    images = images_with_owners([h.image_id for h in hits])
    present = [h for h in hits if h.image_id in images]  # deleted since the index saw them
    return [
        SearchHit(
            rank=offset + n,
            image=images[h.image_id],
            score=h.score,
            distance=float(cosine_to_euclidean(h.score)),
            below_cutoff=below_cutoff,
        )
        for n, h in enumerate(present, start=1)
    ]


def _check_k(k: int | None) -> int:
    if k is None:
        return search_config().default_k
    if not 1 <= k <= site_config().search_max_k:
        raise InvalidInputError(f"k must be between 1 and {site_config().search_max_k}.")
    return k


def _galleries(
    user: AbstractBaseUser | AnonymousUser, slugs: Sequence[str] | None
) -> list[Gallery]:
    visible = selectors.galleries_visible_to(user)
    if not slugs:
        return list(visible)
    found = {g.slug: g for g in visible.filter(slug__in=slugs)}
    unknown = [s for s in slugs if s not in found]
    if unknown:
        raise NotFoundError(f"No gallery named {', '.join(repr(s) for s in unknown)}.")
    return [found[s] for s in dict.fromkeys(slugs)]


def _encoder(
    model: ModelRole = ModelRole.ACTIVE, user: AbstractBaseUser | AnonymousUser | None = None
) -> Encoder:
    try:
        if model == ModelRole.CANDIDATE:
            if user is None or not getattr(user, "is_staff", False):
                raise PermissionDeniedError("Only staff may search with the candidate model.")
            model_selection(fresh=True)  # staff checking a candidate: never a stale view
            candidate = get_candidate_encoder()
            if candidate is None:
                raise InvalidInputError("There is no candidate model to search with.")
            return candidate
        return get_encoder()
    except EncoderUnavailable as exc:
        raise ServiceUnavailableError(str(exc)) from exc
