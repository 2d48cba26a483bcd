"""Binary-code (semantic hashing) backends: exact Hamming and Hamming HNSW.

Both store only the d-bit codes of hashing.encode and an id mapping; search,
re-ranking and range search are shared (binary_common.py).

"faiss-binary": IndexBinaryFlat under IndexBinaryIDMap, exact Hamming with the
permission selector inside the scan. IndexBinaryIDMap rather than
IndexBinaryIDMap2: the latter adds a reverse hash map (measured 116 bytes per
image instead of 73 at 512-d, 1M images) that only reconstruct-by-id needs,
and nothing here reconstructs by id.

"faiss-binary-hnsw": IndexBinaryHNSW, with tombstoned labels and the
k-nearest paths shared with faiss_hnsw.py (tombstoned.py): the graph's flat
code storage scanned under the label selector for allowed sets below
`options.exact_below` and for queries the graph walk leaves short of k.
IndexBinaryHNSW has no range search, so range_search always scans the code
storage exactly: a Hamming scan of 64-byte codes is cheap, and exact.
"""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np

from indexing.index.base import IndexOptions, register
from indexing.index.binary_common import BinaryIndexBase
from indexing.index.faiss_flat import selector_for
from indexing.index.labels import LabelMap
from indexing.index.tombstoned import TombstonedGraph, checked_batch


class FaissBinaryIndex(BinaryIndexBase):
    def __init__(self, dim: int, options: IndexOptions):
        super().__init__(dim, options)
        self._index = faiss.IndexBinaryIDMap(faiss.IndexBinaryFlat(self.code_bits))

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids, vectors = checked_batch(ids, vectors, self.dim)
        if len(ids) == 0:
            return
        codes = self.encode(vectors)
        with self._lock:
            self._index.remove_ids(faiss.IDSelectorBatch(ids))
            self._index.add_with_ids(codes, ids)

    def remove(self, ids: np.ndarray) -> int:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return 0
        with self._lock:
            return int(self._index.remove_ids(faiss.IDSelectorBatch(ids)))

    def memory_bytes(self) -> int:
        """Approximate bytes held: codes and the id map."""
        return int(self._index.ntotal) * (self.code_bits // 8 + 8)

    def _hamming_knn(
        self, codes: np.ndarray, k: int, allowed_ids: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        params = _params(allowed_ids)
        distances, ids = self._index.search(codes, k, params=params[0])
        return distances, ids

    def _hamming_range(
        self, code: np.ndarray, radius: int, allowed_ids: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        params = _params(allowed_ids)
        _lims, distances, ids = self._index.range_search(code, radius, params=params[0])
        return distances, ids


class FaissBinaryHNSWIndex(TombstonedGraph, BinaryIndexBase):
    def __init__(self, dim: int, options: IndexOptions):
        BinaryIndexBase.__init__(self, dim, options)
        self._labels = LabelMap()
        self._index = self._new_graph()

    def __len__(self) -> int:
        return len(self._labels)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids, vectors = checked_batch(ids, vectors, self.dim)
        if len(ids):
            self._add_rows(ids, self.encode(vectors))

    def memory_bytes(self) -> int:
        """Approximate bytes held: codes, graph links and levels, label maps."""
        return int(self._index.ntotal) * (self.code_bits // 8) + self._graph_bytes()

    def _hamming_knn(
        self, codes: np.ndarray, k: int, allowed_ids: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        labels = self._allowed_labels(allowed_ids)
        count = len(self._labels) if labels is None else len(labels)
        if count == 0:
            n = len(codes)
            return np.zeros((n, k), np.int32), np.full((n, k), -1, np.int64)
        distances, found = self._labelled_knn(codes, k, labels, count)
        return distances, self._labels.ids_of(found)

    def _hamming_range(
        self, code: np.ndarray, radius: int, allowed_ids: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        labels = self._allowed_labels(allowed_ids)
        if len(self._labels) == 0 or (labels is not None and len(labels) == 0):
            return np.zeros(0, np.int32), np.zeros(0, np.int64)
        selector, _keep = self._labels.selector(labels)
        params = None if selector is None else faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]  # faiss's stubs omit the keyword arguments SWIG takes
        _lims, distances, found = self._storage().range_search(code, radius, params=params)
        return distances, self._labels.ids_of(found)

    def _new_graph(self) -> faiss.IndexBinaryHNSW:
        index = faiss.IndexBinaryHNSW(self.code_bits, self._options.hnsw_m)
        index.hnsw.efConstruction = self._options.hnsw_ef_construction
        index.hnsw.efSearch = self._options.hnsw_ef_search
        return index

    def _storage(self) -> Any:  # an IndexBinaryFlat; its xb is missing from faiss's stubs
        return faiss.downcast_IndexBinary(self._index.storage)

    def _rows_of(self, labels: np.ndarray) -> np.ndarray:
        storage = self._storage()
        codes = faiss.vector_to_array(storage.xb).reshape(-1, storage.code_size)
        return np.ascontiguousarray(codes[labels])


def _params(allowed_ids: np.ndarray | None) -> tuple[faiss.SearchParameters | None, object]:
    """Search parameters with a selector over external ids, and the buffer to keep alive."""
    if allowed_ids is None:
        return None, None
    selector, keep = selector_for(allowed_ids)
    return faiss.SearchParameters(sel=selector), (selector, keep)  # type: ignore[call-arg]  # faiss's stubs omit the keyword arguments SWIG takes


@register("faiss-binary")
def _create_flat(dim: int, options: IndexOptions) -> FaissBinaryIndex:
    return FaissBinaryIndex(dim, options)


@register("faiss-binary-hnsw")
def _create_hnsw(dim: int, options: IndexOptions) -> FaissBinaryHNSWIndex:
    return FaissBinaryHNSWIndex(dim, options)
