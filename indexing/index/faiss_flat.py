"""Exact inner-product search with FAISS (IndexFlatIP under an IndexIDMap2).

Permission filtering uses FAISS's IDSelector inside the scan, so filtered
queries still return k hits when k allowed vectors exist. A bitmap selector
is used for large allowed sets (one bit per id up to the largest id, O(1)
membership), a batch selector for small ones.
"""

from __future__ import annotations

import threading

import faiss
import numpy as np

from indexing.index.base import IndexOptions, SearchHits, register

# Below this many allowed ids a hash-set selector is cheaper than a bitmap over the id range.
_BATCH_SELECTOR_MAX = 4096


class FaissFlatIndex:
    def __init__(self, dim: int):
        self.dim = dim
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        # FAISS indexes are not safe for concurrent writes and reads: one writer at a time.
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or len(ids) != len(vectors):
            raise ValueError(f"expected ({len(ids)}, {self.dim}) vectors, got {vectors.shape}")
        if len(ids) == 0:
            return
        if len(np.unique(ids)) != len(ids):
            raise ValueError("duplicate ids in one add()")
        with self._lock:
            self._index.remove_ids(faiss.IDSelectorBatch(ids))
            self._index.add_with_ids(vectors, ids)

    def remove(self, ids: np.ndarray) -> int:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return 0
        with self._lock:
            return int(self._index.remove_ids(faiss.IDSelectorBatch(ids)))

    def search(
        self, queries: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> SearchHits:
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        n = len(queries)
        empty = SearchHits(np.full((n, k), -1, np.int64), np.zeros((n, k), np.float32))
        if k <= 0 or len(self) == 0:
            return empty
        params = None
        if allowed_ids is not None:
            allowed_ids = np.ascontiguousarray(allowed_ids, dtype=np.int64)
            if len(allowed_ids) == 0:
                return empty
            selector, _keep = _selector(allowed_ids)
            params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]  # faiss's stubs omit the keyword arguments SWIG takes
        with self._lock:
            scores, ids = self._index.search(queries, k, params=params)
        return SearchHits(ids=ids, scores=scores)

    def range_search(
        self, query: np.ndarray, min_score: float, allowed_ids: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        query = np.ascontiguousarray(np.atleast_2d(query)[:1], dtype=np.float32)
        if len(self) == 0:
            return []
        params = None
        if allowed_ids is not None:
            allowed_ids = np.ascontiguousarray(allowed_ids, dtype=np.int64)
            if len(allowed_ids) == 0:
                return []
            selector, _keep = _selector(allowed_ids)
            params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]  # faiss's stubs omit the keyword arguments SWIG takes
        with self._lock:
            lims, scores, ids = self._index.range_search(query, float(min_score), params=params)
        return sorted_hits(ids[lims[0] : lims[1]], scores[lims[0] : lims[1]])

    def ids(self) -> np.ndarray:
        with self._lock:
            return faiss.vector_to_array(self._index.id_map).astype(np.int64)


def sorted_hits(ids: np.ndarray, scores: np.ndarray) -> list[tuple[int, float]]:
    order = np.lexsort((ids, -scores))  # best score first, ties by id for stable pages
    return list(zip(ids[order].tolist(), scores[order].tolist(), strict=True))


def selector_for(allowed_ids: np.ndarray) -> tuple[faiss.IDSelector, object]:
    return _selector(allowed_ids)


def _selector(allowed_ids: np.ndarray) -> tuple[faiss.IDSelector, object]:
    """An IDSelector for `allowed_ids`, and the buffer it points into (keep it alive)."""
    if len(allowed_ids) <= _BATCH_SELECTOR_MAX:
        return faiss.IDSelectorBatch(allowed_ids), allowed_ids
    if allowed_ids.min() < 0:
        raise ValueError("ids must be non-negative")
    top = int(allowed_ids.max()) + 1
    mask = np.zeros(top, dtype=bool)
    mask[allowed_ids] = True
    bitmap = np.packbits(mask, bitorder="little")
    return faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap)), bitmap


@register("faiss-flat")
def _create(dim: int, options: IndexOptions) -> FaissFlatIndex:
    return FaissFlatIndex(dim)
