"""bench_query.py --large-k: search_images at evaluation-sized k, the hit-row paths side by side.

The evaluation asks for the whole collection (k = N) per query. For each k the
same "find similar" queries (a stored image as the example, as the evaluation
asks its image queries) run through search_images three ways, in one process:

  select_related  the hit rows as search loaded them before: one Image + Gallery +
                  User instance per hit, a placeholder per id (the baseline)
  shared owners   the product's loader now (search/hit_rows.py)
  ranking only    load_hits=False: the ranking the evaluation scores, no image rows

and the three are checked to return the same ranking.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any

import _common

PATHS = ("select_related", "shared owners", "ranking only")


def _select_related_rows(image_ids: Any) -> Any:
    from galleries.models import Image

    return Image.objects.select_related("gallery", "uploaded_by").in_bulk(list(image_ids))


@contextmanager
def _loader(path: str) -> Any:
    """search_images with the baseline loader swapped in (benchmark only, restored after)."""
    import search.services as services

    original = services.images_with_owners
    if path == "select_related":
        services.images_with_owners = _select_related_rows
    try:
        yield
    finally:
        services.images_with_owners = original


def _time_path(user: Any, example_ids: list[int], k: int, path: str) -> tuple[list[float], list]:
    from search.request import Mode, SearchRequest
    from search.services import search_images

    load_hits = path != "ranking only"
    times, rankings = [], []
    with _loader(path):
        for image_id in [*example_ids[:3], *example_ids]:  # the first three warm up
            started = time.perf_counter()
            result = search_images(
                user=user,
                load_hits=load_hits,
                request=SearchRequest(image_ids=[image_id], k=k, mode=Mode.TOPK),
            )
            times.append(time.perf_counter() - started)
            rankings.append([i for i, _ in result.ranked])
            if load_hits and len(result.hits) != k:
                raise RuntimeError(f"{len(result.hits)} hits, expected {k}")
    return times[3:], rankings[3:]


def run_large_k(size: int, corpus: Any, user: Any, queries: int, ks: list[int]) -> dict[str, Any]:
    """Grow the corpus to `size`, build the index, time each k through each path."""
    from django.test.utils import override_settings

    from galleries.models import Image
    from indexing.index_sync import manager

    corpus.grow_to(size)
    # Real images name their uploader: the select_related path builds a User per hit.
    Image.objects.filter(gallery=corpus.gallery, uploaded_by=None).update(uploaded_by=user)
    manager.clear()
    manager.get(corpus.encoder.name)
    step = max(1, len(corpus.ids) // queries)
    example_ids = [int(i) for i in corpus.ids[::step][:queries]]
    out: dict[str, Any] = {"size": size, "queries": len(example_ids), "k": {}}
    ks = sorted({k for k in ks if k < size} | {size - 1})  # size - 1: all but the example
    with override_settings(CBIR_SEARCH_MAX_K=max(ks)):
        for k in ks:
            cells, rankings = {}, {}
            for path in PATHS:
                times, rankings[path] = _time_path(user, example_ids, k, path)
                cells[path] = _common.summary_ms(times)
            if len({str(r) for r in rankings.values()}) != 1:
                raise RuntimeError(f"the paths ranked differently at k={k}")
            out["k"][k] = cells
    return out


def print_large_k(r: dict[str, Any]) -> None:
    print()
    print(f"== {r['size']:,} embeddings, {r['queries']} find-similar queries per cell ==")
    rows = []
    for k, cells in r["k"].items():
        base = cells["select_related"]["p50"]
        for path in PATHS:
            s = cells[path]
            rows.append(
                [
                    f"k={k} {path}",
                    f"{s['p50']:.1f}",
                    f"{s['p99']:.1f}",
                    f"{1000 / s['mean']:.1f}",
                    f"{base / s['p50']:.1f}x",
                ]
            )
    print(_common.table(rows, ["search_images (ms)", "p50", "p99", "queries/s", "vs before"]))
