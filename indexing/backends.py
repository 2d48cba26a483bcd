"""Search backends: the in-memory FAISS family, or pgvector inside PostgreSQL.

CBIR_INDEX_BACKEND picks one for the deployment: faiss-flat (exact),
faiss-hnsw (approximate graph), faiss-binary / faiss-binary-hnsw (semantic
hashing, re-ranked with the float vectors from pgvector), or pgvector (HNSW
index in PostgreSQL, permission filter in SQL: for collections beyond one
machine's memory). Every backend answers in cosine similarity and filters by
the caller's galleries inside the search.
"""

from __future__ import annotations

import numpy as np

from indexing.backend_base import Hit, SearchBackend
from indexing.config import indexing_config
from indexing.index_sync import manager
from indexing.pgvector_backend import PgvectorBackend

MEMORY_BACKENDS = {"faiss-flat", "faiss-hnsw", "faiss-binary", "faiss-binary-hnsw"}


class MemoryBackend:
    """The process's FAISS indexes (indexing/index_sync.py), filtered by allowed image ids."""

    def __init__(self, name: str):
        self.name = name

    def top_k(
        self, model_name: str, vector: np.ndarray, k: int, gallery_ids: list[int]
    ) -> list[Hit]:
        state = manager.get_ready(model_name)
        if state is None:  # the in-memory index is still being built: ask PostgreSQL
            return PgvectorBackend().top_k(model_name, vector, k, gallery_ids)
        if state.index is None or not gallery_ids:
            return []
        allowed = state.allowed_ids(gallery_ids)
        pairs = state.index.search(vector, k, allowed).row(0)
        if state.expansions is not None:
            # An image counts once, at its best vector: k distinct images may need
            # up to k * (expansions per image) expansion hits.
            allowed_expansions = state.expansion_galleries.allowed_ids(gallery_ids)
            wanted = k * max(indexing_config().expansion_max_per_image, 1)
            extra = state.expansions.search(vector, wanted, allowed_expansions).row(0)
            pairs = _best_per_image(pairs, extra, state.expansion_image)[:k]
        return self._hits(state, pairs)

    def above(
        self,
        model_name: str,
        vector: np.ndarray,
        min_score: float,
        gallery_ids: list[int],
        limit: int,
    ) -> list[Hit]:
        state = manager.get_ready(model_name)
        if state is None:
            return PgvectorBackend().above(model_name, vector, min_score, gallery_ids, limit)
        if state.index is None or not gallery_ids:
            return []
        allowed = state.allowed_ids(gallery_ids)
        pairs = state.index.range_search(vector, min_score, allowed)
        if state.expansions is not None:
            allowed_expansions = state.expansion_galleries.allowed_ids(gallery_ids)
            extra = state.expansions.range_search(vector, min_score, allowed_expansions)
            pairs = _best_per_image(pairs, extra, state.expansion_image)
        return self._hits(state, pairs[:limit])

    @staticmethod
    def _hits(state, pairs: list[tuple[int, float]]) -> list[Hit]:  # type: ignore[no-untyped-def]
        if not pairs:
            return []
        ids = np.asarray([i for i, _ in pairs], dtype=np.int64)
        galleries = state.galleries.galleries_of(ids)
        return [
            Hit(int(i), int(g), float(s))
            for (i, s), g in zip(pairs, galleries, strict=True)
            if g >= 0  # removed while we searched
        ]


def _best_per_image(
    own: list[tuple[int, float]], expansions: list[tuple[int, float]], image_of: dict[int, int]
) -> list[tuple[int, float]]:
    """An image's score is the best of its own vector and its expansion vectors."""
    best = dict(own)
    for expansion_id, score in expansions:
        image_id = image_of.get(expansion_id)
        if image_id is not None and score > best.get(image_id, -np.inf):
            best[image_id] = score
    return sorted(best.items(), key=lambda pair: (-pair[1], pair[0]))


def get_backend() -> SearchBackend:
    name = indexing_config().index_backend
    if name in MEMORY_BACKENDS:
        return MemoryBackend(name)
    if name == "pgvector":
        return PgvectorBackend()
    raise ValueError(f"Unknown CBIR_INDEX_BACKEND {name!r}")
