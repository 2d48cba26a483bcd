"""The VectorIndex protocol and the registry of index backends.

An index knows integer ids and unit vectors, nothing else: no users, no
galleries, no thresholds. Permission filtering arrives as an array of
allowed ids and is applied inside the search, so a caller asking for k
results gets k whenever k allowed vectors exist.

Scores are cosine similarities (inner products of unit vectors), higher is
closer, whatever the backend stores internally (binary codes report an
estimate unless they re-rank with the float vectors).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class SearchHits:
    ids: np.ndarray  # (n_queries, k) int64, -1 where fewer than k results exist
    scores: np.ndarray  # (n_queries, k) float32 cosine similarity (inner product of unit vectors)

    def row(self, i: int) -> list[tuple[int, float]]:
        keep = self.ids[i] >= 0
        return list(zip(self.ids[i][keep].tolist(), self.scores[i][keep].tolist(), strict=True))


class VectorIndex(Protocol):
    dim: int

    def __len__(self) -> int: ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Insert or replace: an id already present gets the new vector."""
        ...

    def remove(self, ids: np.ndarray) -> int:
        """Remove ids (absent ids are ignored); return how many were removed."""
        ...

    def search(
        self, queries: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> SearchHits: ...

    def range_search(
        self, query: np.ndarray, min_score: float, allowed_ids: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Every (id, score) with score > min_score for one query, best first."""
        ...


@dataclass(frozen=True)
class IndexOptions:
    """Backend knobs; each backend reads the ones it needs."""

    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    hnsw_ef_search: int = 256
    # Allowed sets smaller than this are scanned exactly instead of walking the graph
    # (a graph walk under a tight filter can miss results).
    exact_below: int = 20_000
    # A filtered graph walk whose widened candidate list would exceed this scans instead.
    max_graph_ef: int = 2_000
    # Semantic hashing: per-dimension thresholds (bit = value > threshold); None: zero.
    binary_thresholds: np.ndarray | None = None
    # Re-rank the Hamming candidates with float vectors fetched by id (from pgvector).
    rerank_source: Callable[[np.ndarray], np.ndarray] | None = None
    rerank_factor: int = 20


IndexFactory = Callable[[int, IndexOptions], VectorIndex]
_REGISTRY: dict[str, IndexFactory] = {}


def register(name: str) -> Callable[[IndexFactory], IndexFactory]:
    def decorator(factory: IndexFactory) -> IndexFactory:
        _REGISTRY[name] = factory
        return factory

    return decorator


def create_index(name: str, dim: int, options: IndexOptions | None = None) -> VectorIndex:
    # Importing the modules runs their @register decorators.
    from indexing.index import faiss_binary, faiss_flat, faiss_hnsw  # noqa: F401

    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"Unknown index backend {name!r}; set CBIR_INDEX_BACKEND to one of {sorted(_REGISTRY)}."
        ) from None
    return factory(dim, options or IndexOptions())


def cosine_to_euclidean(similarity: np.ndarray | float) -> np.ndarray | float:
    """d = sqrt(2 - 2s) for unit vectors; clipped at 0 against rounding."""
    return np.sqrt(np.maximum(2.0 - 2.0 * np.asarray(similarity, dtype=np.float64), 0.0))
