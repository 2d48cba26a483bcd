"""A text query and its accepted rephrasings, searched one by one and fused into one ranking.

Each text (the original first) answers a top-k search with the same galleries,
exclusions and negatives; the rankings are fused with the product's fusion
(search/fusion.py: log-discounted voting or RRF). The answer is the fused
union of the lists, paginated by page_size: every result of the original query
is in it, only its place may change, so accepting suggestions never loses the
original results. `score` is the fused score (metric fusion:<method>);
`distance` the closest any of the texts came to the image.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from cbir_site.errors import InvalidInputError
from search.fusion import METHODS as FUSION_METHODS
from search.request import Composition, Mode, QueryKind, SearchRequest
from search.results import SearchHit

MAX_REPHRASINGS = 8


def clean_rephrasings(texts: Sequence[str], *, original: str) -> list[str]:
    """Distinct, non-empty, not the original; at most MAX_REPHRASINGS."""
    seen = {original.strip().casefold()}
    kept = []
    for text in texts:
        text = " ".join(str(text).split())
        if text and text.casefold() not in seen:
            seen.add(text.casefold())
            kept.append(text)
    return kept[:MAX_REPHRASINGS]


def search_rephrased(
    *, search: Callable[[SearchRequest], Any], request: SearchRequest, vector_given: bool = False
) -> Any:
    """`search` runs one request (search/services.py search_images for the same user)."""
    original = (request.text or "").strip()
    if not original or vector_given:
        raise InvalidInputError("rephrasings apply to a text query: give `text` too.")
    if request.composition == Composition.TWO_PHASE:
        raise InvalidInputError("rephrasings are fused top-k searches: use composition sum.")
    page, page_size = request.page, request.page_size
    if page < 1:
        raise InvalidInputError("page starts at 1.")
    texts = [original, *clean_rephrasings(request.rephrasings, original=original)]
    # Each text a plain top-k search of the first page; strict and text_cutoff do not apply.
    each = dataclasses.replace(
        request,
        rephrasings=(),
        mode=Mode.TOPK,
        page=1,
        page_size=None,
        strict=False,
        text_cutoff=None,
    )
    results = [search(dataclasses.replace(each, text=text)) for text in texts]
    method = request.fusion
    fused, images, closest = _fuse(results, method)
    first = results[0]
    size = page_size or first.k
    start = (page - 1) * size

    hits = [
        SearchHit(rank=start + n, image=images[i], score=s, distance=closest[i])
        for n, (i, s) in enumerate(fused[start : start + size], start=1)
    ]
    return dataclasses.replace(
        first,
        hits=hits,
        total=len(fused),
        page=page,
        page_size=size,
        ranked=fused,
        metric=f"fusion:{method}",
        query_kinds=[*first.query_kinds, QueryKind.REPHRASINGS],
        encode_ms=sum(r.encode_ms for r in results),
        search_ms=sum(r.search_ms for r in results),
        closest=[],
        notice=None,
    )


def _fuse(results: Sequence[Any], method: str) -> tuple[list[tuple[int, float]], dict, dict]:
    """The fused (image id, score) list, the images by id, each image's closest distance."""
    lists = [[h.image.pk for h in r.hits] for r in results]
    fused = [(int(i), float(s)) for i, s in FUSION_METHODS[method](lists)]
    images: dict[int, Any] = {}
    closest: dict[int, float] = {}
    for result in results:
        for hit in result.hits:
            images[hit.image.pk] = hit.image
            closest[hit.image.pk] = min(closest.get(hit.image.pk, 4.0), hit.distance)
    return fused, images, closest
