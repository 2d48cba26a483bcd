"""Search backends: the in-memory FAISS family, or pgvector inside PostgreSQL.

CBIR_INDEX_BACKEND picks one for the deployment: faiss-flat (exact),
faiss-hnsw (approximate graph), faiss-binary / faiss-binary-hnsw (semantic
hashing, re-ranked with the float vectors from pgvector), or pgvector (HNSW
index in PostgreSQL, permission filter in SQL: for collections beyond one
machine's memory). Every backend answers in cosine similarity and filters by
the caller's galleries inside the search.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from indexing.config import indexing_config
from indexing.index.base import IndexOptions

MEMORY_BACKENDS = {"faiss-flat", "faiss-hnsw", "faiss-binary", "faiss-binary-hnsw"}


@dataclass(frozen=True)
class Hit:
    image_id: int
    gallery_id: int
    score: float  # cosine similarity


class SearchBackend(Protocol):
    name: str

    def top_k(
        self, model_name: str, vector: np.ndarray, k: int, gallery_ids: list[int]
    ) -> list[Hit]: ...

    def above(
        self,
        model_name: str,
        vector: np.ndarray,
        min_score: float,
        gallery_ids: list[int],
        limit: int,
    ) -> list[Hit]:
        """Every hit with score > min_score, best first, at most `limit`."""
        ...


class MemoryBackend:
    """The process's FAISS indexes (indexing/index_sync.py), filtered by allowed image ids."""

    def __init__(self, name: str):
        self.name = name

    def top_k(
        self, model_name: str, vector: np.ndarray, k: int, gallery_ids: list[int]
    ) -> list[Hit]:
        state = _manager().get_ready(model_name)
        if state is None:  # the in-memory index is still being built: ask PostgreSQL
            return _pgvector().top_k(model_name, vector, k, gallery_ids)
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
        state = _manager().get_ready(model_name)
        if state is None:
            return _pgvector().above(model_name, vector, min_score, gallery_ids, limit)
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


def _pgvector():  # type: ignore[no-untyped-def]
    from indexing.pgvector_backend import PgvectorBackend

    return PgvectorBackend()


def _manager():  # type: ignore[no-untyped-def]
    from indexing.index_sync import manager

    return manager


def index_options(model_name: str) -> IndexOptions:
    """Options for a new in-memory index of `model_name` (binary thresholds, re-rank source)."""
    from indexing.hashing_store import hashing_thresholds_for
    from indexing.vector_io import load_vectors

    def rerank_source(image_ids: np.ndarray) -> np.ndarray:
        loaded = load_vectors(model_name, image_ids=image_ids.tolist())
        order = {int(i): n for n, i in enumerate(loaded.image_ids)}
        dim = loaded.vectors.shape[1] if len(loaded) else _model_dim(model_name)
        # NaN rows mark ids deleted meanwhile: the re-ranker skips them (a zero vector would
        # score 0 and take a place among the k).
        out = np.full((len(image_ids), dim), np.nan, dtype=np.float32)
        for row, image_id in enumerate(image_ids.tolist()):
            if image_id in order:
                out[row] = loaded.vectors[order[image_id]]
        return out

    config = indexing_config()
    binary = config.index_backend.startswith("faiss-binary")
    return IndexOptions(
        hnsw_m=config.hnsw_m,
        hnsw_ef_construction=config.hnsw_ef_construction,
        hnsw_ef_search=config.hnsw_ef_search,
        exact_below=config.hnsw_exact_below,
        max_graph_ef=config.hnsw_max_graph_ef,
        binary_thresholds=hashing_thresholds_for(model_name) if binary else None,
        rerank_source=rerank_source if binary and config.binary_rerank else None,
        rerank_factor=config.binary_rerank_factor,
    )


def _model_dim(model_name: str) -> int:
    from indexing.models import Embedding

    dim = Embedding.objects.filter(model_name=model_name).values_list("dim", flat=True).first()
    return int(dim or 0)


def get_backend() -> SearchBackend:
    name = indexing_config().index_backend
    if name in MEMORY_BACKENDS:
        return MemoryBackend(name)
    if name == "pgvector":
        from indexing.pgvector_backend import PgvectorBackend

        return PgvectorBackend()
    raise ValueError(f"Unknown CBIR_INDEX_BACKEND {name!r}")
