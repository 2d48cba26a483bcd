"""Which gallery each indexed image belongs to, in 8 bytes per image id.

Python dicts and sets cost ~100 bytes per entry: more than a hashed
embedding. Here the map is a NumPy array indexed by image id (ids are
database keys: dense and growing), and the allowed-id array of a set of
galleries is one vectorised scan, cached until the map changes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

import numpy as np

_ABSENT = -1
_CACHE_SIZE = 64


class GalleryMap:
    def __init__(self) -> None:
        self._gallery_of = np.full(1024, _ABSENT, dtype=np.int64)
        self._count = 0
        self._version = 0
        self._cache: OrderedDict[tuple[int, ...], tuple[int, np.ndarray]] = OrderedDict()

    def __len__(self) -> int:
        return self._count

    def set(self, image_ids: np.ndarray, gallery_ids: np.ndarray) -> None:
        image_ids = np.asarray(image_ids, dtype=np.int64)
        if len(image_ids) == 0:
            return
        self._grow(int(image_ids.max()) + 1)
        self._count += int(np.count_nonzero(self._gallery_of[image_ids] == _ABSENT))
        self._gallery_of[image_ids] = np.asarray(gallery_ids, dtype=np.int64)
        self._version += 1

    def discard(self, image_ids: Iterable[int]) -> np.ndarray:
        """Forget these images; return the ones that were present."""
        ids = np.fromiter(image_ids, dtype=np.int64)
        ids = ids[(ids >= 0) & (ids < len(self._gallery_of))]
        present = ids[self._gallery_of[ids] != _ABSENT]
        if len(present):
            self._gallery_of[present] = _ABSENT
            self._count -= len(np.unique(present))
            self._version += 1
        return np.unique(present)

    def contains(self, image_ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(image_ids, dtype=np.int64)
        inside = (ids >= 0) & (ids < len(self._gallery_of))
        out = np.zeros(len(ids), dtype=bool)
        out[inside] = self._gallery_of[ids[inside]] != _ABSENT
        return out

    def galleries_of(self, image_ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(image_ids, dtype=np.int64)
        out = np.full(len(ids), _ABSENT, dtype=np.int64)
        inside = (ids >= 0) & (ids < len(self._gallery_of))
        out[inside] = self._gallery_of[ids[inside]]
        return out

    def allowed_ids(self, gallery_ids: Iterable[int]) -> np.ndarray:
        """The image ids in these galleries, ascending."""
        key = tuple(sorted(set(gallery_ids)))
        hit = self._cache.get(key)
        if hit is not None and hit[0] == self._version:
            self._cache.move_to_end(key)
            return hit[1]
        if not key:
            ids = np.zeros(0, dtype=np.int64)
        else:
            ids = np.flatnonzero(np.isin(self._gallery_of, np.asarray(key, dtype=np.int64)))
        self._cache[key] = (self._version, ids)
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return ids

    def gallery_sizes(self) -> dict[int, int]:
        present = self._gallery_of[self._gallery_of != _ABSENT]
        galleries, counts = np.unique(present, return_counts=True)
        return dict(zip(galleries.tolist(), counts.tolist(), strict=True))

    def nbytes(self) -> int:
        return int(self._gallery_of.nbytes)

    def _grow(self, size: int) -> None:
        if size <= len(self._gallery_of):
            return
        bigger = np.full(max(size, 2 * len(self._gallery_of)), _ABSENT, dtype=np.int64)
        bigger[: len(self._gallery_of)] = self._gallery_of
        self._gallery_of = bigger
