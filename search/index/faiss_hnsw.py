"""Approximate inner-product search with a FAISS HNSW graph (IndexHNSWFlat).

HNSW cannot delete, so ids live on internal labels (see labels.py): remove
and replace tombstone a label, every search carries a selector over live
labels, and the graph is rebuilt from its own stored vectors once
tombstones pass 25% of labels.

Two paths answer a query:
- exact: when the allowed set (or the whole live index) is smaller than
  `options.exact_below`, the graph's flat vector storage is scanned with the
  same label selector. A graph walk under a tight filter wanders through
  mostly forbidden nodes and can stop short of k allowed results; the scan
  cannot. It reads the vectors in place: no copy and no second float matrix
  (a kept float32 copy would double the index's memory; gathering the
  allowed vectors with reconstruct_batch measured slower than the filtered
  scan at 2,000 and 20,000 allowed of 200,000 x 512-d, 18 and 30 ms against
  2 and 16 ms, and faster only for tiny sets: 0.05 against 0.7 ms at 100).
- graph: the HNSW walk with the selector, efSearch widened by the inverse
  of the allowed fraction (the scan instead when that reaches the number
  of labels); any query that still comes back short of
  min(k, allowed) is answered on the exact path, so k results come back
  whenever k allowed vectors exist.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import faiss
import numpy as np

from search.index.base import IndexOptions, SearchHits, register
from search.index.faiss_flat import sorted_hits
from search.index.labels import LabelMap

# FAISS's padding score for a missing result under inner product (-FLT_MAX).
NO_SCORE = float(np.finfo(np.float32).min)


class FaissHNSWIndex:
    def __init__(self, dim: int, options: IndexOptions):
        self.dim = dim
        self._options = options
        self._labels = LabelMap()
        self._index = self._new_graph()
        # One lock for the graph and the label map: a search must see them in step,
        # and FAISS indexes are not safe for concurrent writes and reads.
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._labels)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids, vectors = checked_batch(ids, vectors, self.dim)
        if len(ids) == 0:
            return
        with self._lock:
            self._labels.assign(ids)
            self._index.add(vectors)  # labels are assigned in order, as FAISS numbers them
            self._compact_if_needed()

    def remove(self, ids: np.ndarray) -> int:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        with self._lock:
            removed = self._labels.release(ids)
            self._compact_if_needed()
            return removed

    def search(
        self, queries: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> SearchHits:
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        n = len(queries)
        empty = SearchHits(np.full((n, k), -1, np.int64), np.zeros((n, k), np.float32))
        if k <= 0:
            return empty
        with self._lock:
            labels = self._allowed_labels(allowed_ids)
            count = len(self._labels) if labels is None else len(labels)
            if count == 0:
                return empty
            selector, _keep = self._labels.selector(labels)
            if count < self._options.exact_below:
                scores, found = self._exact_search(queries, k, selector)
            else:
                scores, found = self._graph_search(queries, k, selector, count)
            return SearchHits(ids=self._labels.ids_of(found), scores=scores)

    def range_search(
        self, query: np.ndarray, min_score: float, allowed_ids: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        query = np.ascontiguousarray(np.atleast_2d(query)[:1], dtype=np.float32)
        with self._lock:
            labels = self._allowed_labels(allowed_ids)
            count = len(self._labels) if labels is None else len(labels)
            if count == 0:
                return []
            selector, _keep = self._labels.selector(labels)
            ef = self._widened_ef(self._options.hnsw_ef_search, count)
            while count >= self._options.exact_below and ef < self._labels.n_labels:
                params = hnsw_params(selector, ef)
                lims, scores, found = self._index.range_search(
                    query, float(min_score), params=params
                )
                # The walk keeps about ef candidates, of which a fraction count/n_labels is
                # allowed; a result set at least that large was probably cut off: widen.
                if lims[1] < ef * count / self._labels.n_labels:
                    return sorted_hits(self._labels.ids_of(found), scores)
                ef *= 4
            params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]
            _lims, scores, found = self._storage().range_search(
                query, float(min_score), params=params
            )
            return sorted_hits(self._labels.ids_of(found), scores)

    def compact(self) -> None:
        """Rebuild the graph from the live vectors only, dropping every tombstone."""
        with self._lock:
            live = self._labels.live_labels()
            vectors = (
                self._index.reconstruct_batch(live)
                if len(live)
                else np.zeros((0, self.dim), np.float32)
            )
            self._labels.compact()
            self._index = self._new_graph()
            if len(live):
                self._index.add(vectors)

    def memory_bytes(self) -> int:
        """Approximate bytes held: vectors, graph links and levels, label maps."""
        hnsw: Any = self._index.hnsw  # neighbors/offsets/levels are missing from faiss's stubs
        graph = 4 * hnsw.neighbors.size() + 8 * hnsw.offsets.size() + 4 * hnsw.levels.size()
        vectors = 4 * self.dim * int(self._index.ntotal)
        return int(vectors + graph + self._labels.memory_bytes())

    def _new_graph(self) -> faiss.IndexHNSWFlat:
        index = faiss.IndexHNSWFlat(self.dim, self._options.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self._options.hnsw_ef_construction
        index.hnsw.efSearch = self._options.hnsw_ef_search
        return index

    def _storage(self) -> faiss.Index:
        return faiss.downcast_index(self._index.storage)

    def _allowed_labels(self, allowed_ids: np.ndarray | None) -> np.ndarray | None:
        if allowed_ids is None:
            return None
        return self._labels.labels_of(np.ascontiguousarray(allowed_ids, dtype=np.int64))

    def _exact_search(
        self, queries: np.ndarray, k: int, selector: faiss.IDSelector | None
    ) -> tuple[np.ndarray, np.ndarray]:
        params = None if selector is None else faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]
        scores, found = self._storage().search(queries, k, params=params)
        return scores, found

    def _graph_search(
        self, queries: np.ndarray, k: int, selector: faiss.IDSelector | None, count: int
    ) -> tuple[np.ndarray, np.ndarray]:
        ef = self._widened_ef(max(self._options.hnsw_ef_search, k), count)
        if ef >= min(self._labels.n_labels, self._options.max_graph_ef):
            # A walk that keeps that many candidates costs more than the filtered scan
            # (measured at 1M vectors, 5% allowed: the walk 22-54 ms p50, the scan 27 ms with
            # a far shorter tail; benchmarks/README.md).
            return self._exact_search(queries, k, selector)
        params = hnsw_params(selector, ef)
        scores, found = self._index.search(queries, k, params=params)
        short = np.flatnonzero((found >= 0).sum(axis=1) < min(k, count))
        if len(short):
            scores[short], found[short] = self._exact_search(queries[short], k, selector)
        return scores, found

    def _widened_ef(self, ef: int, count: int) -> int:
        # Under a filter only about count/n_labels of the nodes a walk visits are allowed:
        # widen the candidate list by the inverse so about ef allowed ones are seen.
        return math.ceil(ef * self._labels.n_labels / max(count, 1))

    def _compact_if_needed(self) -> None:
        if self._labels.needs_compaction():
            self.compact()


def hnsw_params(selector: faiss.IDSelector | None, ef: int) -> faiss.SearchParameters:
    return faiss.SearchParametersHNSW(sel=selector, efSearch=ef)  # type: ignore[attr-defined]


def checked_batch(ids: np.ndarray, vectors: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[1] != dim or len(ids) != len(vectors):
        raise ValueError(f"expected ({len(ids)}, {dim}) vectors, got {vectors.shape}")
    if len(np.unique(ids)) != len(ids):
        raise ValueError("duplicate ids in one add()")
    if len(ids) and ids.min() < 0:
        raise ValueError("ids must be non-negative")
    return ids, vectors


@register("faiss-hnsw")
def _create(dim: int, options: IndexOptions) -> FaissHNSWIndex:
    return FaissHNSWIndex(dim, options)
