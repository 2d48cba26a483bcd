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
from django.conf import settings

from search.index.base import IndexOptions

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
    """The process's FAISS indexes (search/index_sync.py), filtered by allowed image ids."""

    def __init__(self, name: str):
        self.name = name

    def top_k(
        self, model_name: str, vector: np.ndarray, k: int, gallery_ids: list[int]
    ) -> list[Hit]:
        state = _manager().get(model_name)
        if state.index is None or not gallery_ids:
            return []
        allowed = state.allowed_ids(gallery_ids)
        return self._hits(state, state.index.search(vector, k, allowed).row(0))

    def above(
        self,
        model_name: str,
        vector: np.ndarray,
        min_score: float,
        gallery_ids: list[int],
        limit: int,
    ) -> list[Hit]:
        state = _manager().get(model_name)
        if state.index is None or not gallery_ids:
            return []
        allowed = state.allowed_ids(gallery_ids)
        return self._hits(state, state.index.range_search(vector, min_score, allowed)[:limit])

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


def _manager():  # type: ignore[no-untyped-def]
    from search.index_sync import manager

    return manager


def index_options(model_name: str) -> IndexOptions:
    """Options for a new in-memory index of `model_name` (binary thresholds, re-rank source)."""
    from search.hashing_store import hashing_thresholds_for
    from search.vector_io import load_vectors

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

    binary = settings.CBIR_INDEX_BACKEND.startswith("faiss-binary")
    return IndexOptions(
        hnsw_m=settings.CBIR_HNSW_M,
        hnsw_ef_construction=settings.CBIR_HNSW_EF_CONSTRUCTION,
        hnsw_ef_search=settings.CBIR_HNSW_EF_SEARCH,
        exact_below=settings.CBIR_HNSW_EXACT_BELOW,
        binary_thresholds=hashing_thresholds_for(model_name) if binary else None,
        rerank_source=rerank_source if binary and settings.CBIR_BINARY_RERANK else None,
        rerank_factor=settings.CBIR_BINARY_RERANK_FACTOR,
    )


def _model_dim(model_name: str) -> int:
    from search.models import Embedding

    dim = Embedding.objects.filter(model_name=model_name).values_list("dim", flat=True).first()
    return int(dim or 0)


def get_backend() -> SearchBackend:
    name = settings.CBIR_INDEX_BACKEND
    if name in MEMORY_BACKENDS:
        return MemoryBackend(name)
    if name == "pgvector":
        from search.pgvector_backend import PgvectorBackend

        return PgvectorBackend()
    raise ValueError(f"Unknown CBIR_INDEX_BACKEND {name!r}")
