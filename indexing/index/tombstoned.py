"""What the two HNSW backends (float and binary) share: ids on tombstoned labels.

FAISS HNSW graphs cannot delete, so external ids live on internal labels
(labels.py): `add` gives new labels, `remove` tombstones them, every search
carries a selector over the live (or allowed) labels, and the graph is
rebuilt from its own stored rows once tombstones pass labels.COMPACT_FRACTION.

k-nearest search takes one of two paths:
- exact: when the allowed set (or the whole live index) is smaller than
  `options.exact_below`, or when the widened walk would keep about as many
  candidates as the graph holds (or more than `options.max_graph_ef`), the
  graph's flat storage is scanned under the same selector. A walk under a
  tight filter wanders through mostly forbidden nodes and can stop short of k
  allowed results; the scan cannot;
- graph: the HNSW walk with the selector, efSearch widened by the inverse of
  the allowed fraction; any query that still comes back short of
  min(k, allowed) is answered on the exact path.

A subclass supplies the graph (`_new_graph`), its flat storage (`_storage`),
the stored rows of given labels (`_rows_of`) and the lock; it calls
`_add_rows` with what it stores (float vectors or binary codes).
"""

from __future__ import annotations

import math
import threading
from typing import Any

import faiss
import numpy as np

from indexing.index.base import IndexOptions
from indexing.index.labels import LabelMap


class TombstonedGraph:
    _options: IndexOptions
    _lock: threading.RLock
    _labels: LabelMap
    _index: Any  # faiss.IndexHNSWFlat or faiss.IndexBinaryHNSW

    # ---------------------------------------------------------------- subclass hooks
    def _new_graph(self) -> Any:
        raise NotImplementedError

    def _storage(self) -> Any:
        """The graph's flat storage (what the exact path scans)."""
        raise NotImplementedError

    def _rows_of(self, labels: np.ndarray) -> np.ndarray:
        """The stored rows (vectors or codes) of these labels, in their order."""
        raise NotImplementedError

    # ---------------------------------------------------------------- changes
    def __len__(self) -> int:
        return len(self._labels)

    def _add_rows(self, ids: np.ndarray, rows: np.ndarray) -> None:
        with self._lock:
            self._labels.assign(ids)
            self._index.add(rows)  # labels are assigned in order, as FAISS numbers them
            self._compact_if_needed()

    def remove(self, ids: np.ndarray) -> int:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        with self._lock:
            removed = self._labels.release(ids)
            self._compact_if_needed()
            return removed

    def compact(self) -> None:
        """Rebuild the graph from the live rows only, dropping every tombstone."""
        with self._lock:
            live = self._labels.live_labels()
            rows = self._rows_of(live)  # read before the labels are renumbered
            self._labels.compact()
            self._index = self._new_graph()
            if len(live):
                self._index.add(rows)

    def _compact_if_needed(self) -> None:
        if self._labels.needs_compaction():
            self.compact()

    # ---------------------------------------------------------------- searches
    def _allowed_labels(self, allowed_ids: np.ndarray | None) -> np.ndarray | None:
        if allowed_ids is None:
            return None
        return self._labels.labels_of(np.ascontiguousarray(allowed_ids, dtype=np.int64))

    def _labelled_knn(
        self, queries: np.ndarray, k: int, labels: np.ndarray | None, count: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scores (or distances) and labels of the k best allowed rows; call under the lock."""
        selector, _keep = self._labels.selector(labels)  # _keep: the selector's buffer
        ef = self._widened_ef(max(self._options.hnsw_ef_search, k), count)
        if count < self._options.exact_below or ef >= min(
            self._labels.n_labels, self._options.max_graph_ef
        ):
            # A walk that keeps that many candidates costs more than the filtered scan
            # (measured at 1M vectors, 5% allowed: the walk 22-54 ms p50, the scan 27 ms
            # with a far shorter tail; benchmarks/README.md).
            return self._exact(queries, k, selector)
        scores, found = self._index.search(queries, k, params=hnsw_params(selector, ef))
        short = np.flatnonzero((found >= 0).sum(axis=1) < min(k, count))
        if len(short):
            scores[short], found[short] = self._exact(queries[short], k, selector)
        return scores, found

    def _exact(
        self, queries: np.ndarray, k: int, selector: faiss.IDSelector | None
    ) -> tuple[np.ndarray, np.ndarray]:
        params = None if selector is None else faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]  # faiss's stubs omit the keyword arguments SWIG takes
        scores, found = self._storage().search(queries, k, params=params)
        return scores, found

    def _widened_ef(self, ef: int, count: int) -> int:
        # Under a filter only about count/n_labels of the nodes a walk visits are allowed:
        # widen the candidate list by the inverse so about ef allowed ones are seen.
        return math.ceil(ef * self._labels.n_labels / max(count, 1))

    def _graph_bytes(self) -> int:
        """Bytes of the graph's links and levels, and of the label maps."""
        hnsw: Any = self._index.hnsw  # neighbors/offsets/levels are missing from faiss's stubs
        graph = 4 * hnsw.neighbors.size() + 8 * hnsw.offsets.size() + 4 * hnsw.levels.size()
        return int(graph + self._labels.memory_bytes())


def hnsw_params(selector: faiss.IDSelector | None, ef: int) -> faiss.SearchParameters:
    params: faiss.SearchParameters = faiss.SearchParametersHNSW(  # type: ignore[attr-defined]  # missing from faiss's stubs
        sel=selector, efSearch=ef
    )
    return params


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
