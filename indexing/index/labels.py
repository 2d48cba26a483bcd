"""External ids over the internal labels of an index that cannot delete (HNSW).

FAISS HNSW graphs only grow: a vector, once added, keeps its label
(0..n-1 in insertion order) for the life of the graph. Removing or
replacing an id therefore tombstones its label, and every search passes a
selector over live labels so a tombstoned vector never comes back. When
tombstones pass a fraction of all labels the owner rebuilds the graph from
the live vectors and calls `compact()`.

Memory: 8 bytes per label (label -> id) plus 16 per live id (a sorted
id -> label table). A sorted table rather than a dict: a Python dict costs
about 100 bytes per entry, and translating a 100k-id permission set
through it is a Python loop, where `searchsorted` is one vectorised call.
"""

from __future__ import annotations

import faiss
import numpy as np

from indexing.index.faiss_flat import selector_for

# Rebuild once tombstones are more than this fraction of labels: every dead
# label still costs memory and graph hops (searches walk through tombstones).
COMPACT_FRACTION = 0.25


class LabelMap:
    def __init__(self) -> None:
        self._id_of = np.empty(0, np.int64)  # label -> external id, -1 = tombstone
        self._n_labels = 0
        self._sorted_ids = np.empty(0, np.int64)  # live external ids, ascending
        self._sorted_labels = np.empty(0, np.int64)  # their labels, same order
        self._live_selector: tuple[faiss.IDSelector, object] | None = None

    def __len__(self) -> int:
        return len(self._sorted_ids)

    @property
    def n_labels(self) -> int:
        return self._n_labels

    @property
    def tombstones(self) -> int:
        return self._n_labels - len(self._sorted_ids)

    def needs_compaction(self) -> bool:
        return self.tombstones > COMPACT_FRACTION * self._n_labels

    def assign(self, ids: np.ndarray) -> np.ndarray:
        """New labels for unique `ids`, in order; an id already present loses its old label."""
        labels = np.arange(self._n_labels, self._n_labels + len(ids), dtype=np.int64)
        pos, present = self._find(ids)
        self._id_of[self._sorted_labels[pos[present]]] = -1
        self._sorted_labels[pos[present]] = labels[present]
        fresh = np.flatnonzero(~present)
        order = fresh[np.argsort(ids[fresh], kind="stable")]
        at = np.searchsorted(self._sorted_ids, ids[order])
        self._sorted_ids = np.insert(self._sorted_ids, at, ids[order])
        self._sorted_labels = np.insert(self._sorted_labels, at, labels[order])
        self._append(ids)
        self._live_selector = None
        return labels

    def release(self, ids: np.ndarray) -> int:
        """Tombstone the labels of `ids` (unknown ids are ignored); how many were live."""
        pos, present = self._find(ids)
        pos = np.unique(pos[present])
        self._id_of[self._sorted_labels[pos]] = -1
        self._sorted_ids = np.delete(self._sorted_ids, pos)
        self._sorted_labels = np.delete(self._sorted_labels, pos)
        self._live_selector = None
        return len(pos)

    def labels_of(self, ids: np.ndarray) -> np.ndarray:
        """Live labels of those `ids` that are present, ascending, without duplicates."""
        pos, present = self._find(ids)
        return np.unique(self._sorted_labels[pos[present]])

    def ids_of(self, labels: np.ndarray) -> np.ndarray:
        """External ids for labels; -1 (FAISS's "no result") stays -1."""
        out = np.full(labels.shape, -1, np.int64)
        valid = labels >= 0
        out[valid] = self._id_of[labels[valid]]
        return out

    def live_labels(self) -> np.ndarray:
        return np.sort(self._sorted_labels)

    def selector(self, labels: np.ndarray | None) -> tuple[faiss.IDSelector | None, object]:
        """A selector over these labels, or over every live label when None.

        None with no tombstones means "no selector": the unfiltered search is the fastest.
        The live-label selector is cached until the next change: every unfiltered
        search needs it while tombstones exist.
        """
        if labels is not None:
            return selector_for(labels)
        if self.tombstones == 0:
            return None, None
        if self._live_selector is None:
            self._live_selector = selector_for(self.live_labels())
        return self._live_selector

    def compact(self) -> np.ndarray:
        """Renumber live labels 0..m-1 keeping their order; return the old live labels.

        The caller rebuilds its graph by adding the vectors of the returned labels in order.
        """
        live = self.live_labels()
        remap = np.full(self._n_labels, -1, np.int64)
        remap[live] = np.arange(len(live), dtype=np.int64)
        self._sorted_labels = remap[self._sorted_labels]
        self._id_of = self._id_of[live].copy()
        self._n_labels = len(live)
        self._live_selector = None
        return live

    def memory_bytes(self) -> int:
        return int(self._id_of.nbytes + self._sorted_ids.nbytes + self._sorted_labels.nbytes)

    def _find(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions of `ids` in the sorted table, and which of them are present."""
        pos = np.searchsorted(self._sorted_ids, ids)
        pos = np.minimum(pos, max(len(self._sorted_ids) - 1, 0))
        present = (
            self._sorted_ids[pos] == ids if len(self._sorted_ids) else np.zeros(len(ids), bool)
        )
        return pos, present

    def _append(self, ids: np.ndarray) -> None:
        need = self._n_labels + len(ids)
        if need > len(self._id_of):
            # Geometric growth: one add per feed event must not copy the whole table each time.
            grown = np.full(max(need, 2 * len(self._id_of), 1024), -1, np.int64)
            grown[: self._n_labels] = self._id_of[: self._n_labels]
            self._id_of = grown
        self._id_of[self._n_labels : need] = ids
        self._n_labels = need
