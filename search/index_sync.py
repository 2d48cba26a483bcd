"""In-memory vector indexes per process, derived from pgvector and kept in step with it.

pgvector is the source of truth. Each process builds an index per model from
the Embedding table, then follows the IndexEvent feed (see feed.py): before a
search it reads the events past its cursor and reloads those images'
embeddings. A process that finds its cursor older than the pruned part of
the feed rebuilds in the background and keeps serving the old index until
the new one is ready.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models import Max
from django.utils import timezone

from search.feed import ChangeCursor
from search.index.base import VectorIndex, create_index
from search.models import IndexEvent, IndexFeedState
from search.vector_io import iter_embeddings

logger = logging.getLogger(__name__)

_LOAD_CHUNK = 5000
_FEED_BATCH = 10000


@dataclass
class ModelIndex:
    """One model's vectors, which gallery each image belongs to, and the feed cursor."""

    model_name: str
    index: VectorIndex | None
    cursor: ChangeCursor
    gallery_of: dict[int, int] = field(default_factory=dict)
    members: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    built_at: float = field(default_factory=time.time)
    _arrays: dict[int, np.ndarray] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __len__(self) -> int:
        return len(self.gallery_of)

    def upsert(self, image_ids: np.ndarray, gallery_ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(image_ids) == 0:
            return
        with self.lock:
            if self.index is None:
                self.index = create_index(settings.CBIR_INDEX_BACKEND, vectors.shape[1])
            self.index.add(image_ids, vectors)
            for image_id, gallery_id in zip(image_ids.tolist(), gallery_ids.tolist(), strict=True):
                self._move(image_id, gallery_id)

    def remove(self, image_ids: Iterable[int]) -> None:
        with self.lock:
            ids = [i for i in image_ids if i in self.gallery_of]
            if not ids or self.index is None:
                return
            self.index.remove(np.asarray(ids, np.int64))
            for image_id in ids:
                self._move(image_id, None)

    def allowed_ids(self, gallery_ids: Iterable[int]) -> np.ndarray:
        with self.lock:
            parts = []
            for gallery_id in gallery_ids:
                if gallery_id not in self._arrays:
                    members = self.members.get(gallery_id, ())
                    self._arrays[gallery_id] = np.fromiter(members, np.int64, len(members))
                parts.append(self._arrays[gallery_id])
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def gallery_sizes(self) -> dict[int, int]:
        with self.lock:
            return {g: len(ids) for g, ids in self.members.items() if ids}

    def _move(self, image_id: int, gallery_id: int | None) -> None:
        previous = self.gallery_of.pop(image_id, None)
        if previous is not None:
            self.members[previous].discard(image_id)
            self._arrays.pop(previous, None)
        if gallery_id is not None:
            self.gallery_of[image_id] = gallery_id
            self.members[gallery_id].add(image_id)
            self._arrays.pop(gallery_id, None)


class IndexManager:
    """The process's indexes, one per model name."""

    def __init__(self) -> None:
        self._indexes: dict[str, ModelIndex] = {}
        self._lock = threading.Lock()
        self._rebuilding: set[str] = set()

    def get(self, model_name: str) -> ModelIndex:
        """The index for `model_name`, built on first use and caught up with the feed."""
        current = self._indexes.get(model_name)
        if current is None:
            with self._lock:
                current = self._indexes.get(model_name)
                if current is None:
                    current = build_model_index(model_name)
                    self._indexes[model_name] = current
            return current
        if _pruned_through() > current.cursor.position:
            self.rebuild_in_background(model_name)
        else:
            apply_feed(current)
        return current

    def rebuild_in_background(self, model_name: str) -> threading.Thread | None:
        with self._lock:
            if model_name in self._rebuilding:
                return None
            self._rebuilding.add(model_name)

        def work() -> None:
            try:
                fresh = build_model_index(model_name)
                apply_feed(fresh)
                with self._lock:
                    self._indexes[model_name] = fresh
            except Exception:
                logger.exception("Rebuilding the %s index failed; the old one stays", model_name)
            finally:
                with self._lock:
                    self._rebuilding.discard(model_name)
                connection.close()  # this thread's own connection: do not leak it

        thread = threading.Thread(target=work, name=f"index-rebuild-{model_name}", daemon=True)
        thread.start()
        return thread

    def loaded(self) -> dict[str, ModelIndex]:
        return dict(self._indexes)

    def clear(self) -> None:
        with self._lock:
            self._indexes.clear()


def build_model_index(model_name: str) -> ModelIndex:
    """Load every embedding of `model_name` from pgvector into a fresh index."""
    started = time.perf_counter()
    gap_timeout = settings.CBIR_INDEX_FEED_GAP_TIMEOUT_S
    # Start the cursor before the events that may still belong to open transactions:
    # replaying them later is harmless, missing them is not.
    settled = timezone.now() - timedelta(seconds=gap_timeout)
    position = IndexEvent.objects.filter(created_at__lt=settled).aggregate(m=Max("id"))["m"] or 0
    position = max(position, _pruned_through())
    state = ModelIndex(model_name, None, ChangeCursor(position, gap_timeout=gap_timeout))
    for chunk in iter_embeddings(model_name, chunk_size=_LOAD_CHUNK):
        state.upsert(chunk.image_ids, chunk.gallery_ids, chunk.vectors)
    logger.info(
        "Built the %s index: %d vectors in %.2f s",
        model_name,
        len(state),
        time.perf_counter() - started,
    )
    return state


def apply_feed(state: ModelIndex) -> int:
    """Apply feed events past the cursor; return how many images were looked at again."""
    with state.lock:
        events = list(
            IndexEvent.objects.filter(id__gt=state.cursor.position)
            .order_by("id")
            .values_list("id", "image_id")[:_FEED_BATCH]
        )
        unseen = set(state.cursor.unseen(eid for eid, _ in events))
        fresh = [(eid, image_id) for eid, image_id in events if eid in unseen]
        image_ids = sorted({image_id for _, image_id in fresh})
        if image_ids:
            present: set[int] = set()
            for chunk in iter_embeddings(state.model_name, image_ids=image_ids):
                state.upsert(chunk.image_ids, chunk.gallery_ids, chunk.vectors)
                present.update(chunk.image_ids.tolist())
            state.remove(set(image_ids) - present)
        state.cursor.advance(eid for eid, _ in fresh)
        return len(image_ids)


def _pruned_through() -> int:
    row = IndexFeedState.objects.filter(pk=1).values_list("pruned_through", flat=True).first()
    return row or 0


manager = IndexManager()
