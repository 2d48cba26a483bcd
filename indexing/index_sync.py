"""In-memory vector indexes per process, derived from pgvector and kept in step with it.

pgvector is the source of truth. Each process builds an index per model from
the Embedding table, then follows the IndexEvent feed (see feed.py): before a
search it reads the events past its cursor and reloads those images'
embeddings. A process rebuilds in the background, serving the old index until
the new one is ready, when its cursor is older than the pruned part of the
feed or when the feed's generation moved (hashing thresholds refitted, the
backend's parameters changed: anything that invalidates every vector at once).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from django.db import connection
from django.db.models import Max
from django.utils import timezone

from indexing import providers
from indexing.config import indexing_config
from indexing.feed import ChangeCursor
from indexing.gallery_map import GalleryMap
from indexing.index.base import IndexOptions, VectorIndex, create_index
from indexing.index_options import index_options
from indexing.models import IndexEvent, IndexFeedState
from indexing.vector_io import iter_embeddings

logger = logging.getLogger(__name__)

_LOAD_CHUNK = 5000
_FEED_BATCH = 10000

OptionsFactory = Callable[[str], IndexOptions]


@dataclass
class ModelIndex:
    """One model's vectors, which gallery each image belongs to, and the feed cursor."""

    model_name: str
    backend: str
    options: IndexOptions
    cursor: ChangeCursor
    generation: int = 0
    index: VectorIndex | None = None
    galleries: GalleryMap = field(default_factory=GalleryMap)
    # Collection expansion: extra vectors per image, in their own exact index.
    expansions: VectorIndex | None = None
    expansion_galleries: GalleryMap = field(default_factory=GalleryMap)
    expansion_image: dict[int, int] = field(default_factory=dict)
    image_expansions: dict[int, list[int]] = field(default_factory=dict)
    built_at: float = field(default_factory=time.time)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __len__(self) -> int:
        return len(self.galleries)

    def upsert(self, image_ids: np.ndarray, gallery_ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(image_ids) == 0:
            return
        with self.lock:
            if self.index is None:
                self.index = create_index(self.backend, vectors.shape[1], self.options)
            self.index.add(image_ids, vectors)
            self.galleries.set(image_ids, gallery_ids)

    def remove(self, image_ids: Iterable[int]) -> None:
        with self.lock:
            present = self.galleries.discard(image_ids)
            if len(present) and self.index is not None:
                self.index.remove(present)

    def set_expansions(self, image_ids: Iterable[int], chunks: Iterable) -> None:
        """Replace these images' expansion vectors with the ones in `chunks`."""
        with self.lock:
            old = [e for i in image_ids for e in self.image_expansions.pop(i, [])]
            if old and self.expansions is not None:
                self.expansions.remove(np.asarray(old, np.int64))
                self.expansion_galleries.discard(old)
                for e in old:
                    self.expansion_image.pop(e, None)
            for chunk in chunks:
                if self.expansions is None:
                    self.expansions = create_index("faiss-flat", chunk.vectors.shape[1])
                self.expansions.add(chunk.ids, chunk.vectors)
                self.expansion_galleries.set(chunk.ids, chunk.gallery_ids)
                for e, i in zip(chunk.ids.tolist(), chunk.image_ids.tolist(), strict=True):
                    self.expansion_image[e] = i
                    self.image_expansions.setdefault(i, []).append(e)

    def allowed_ids(self, gallery_ids: Iterable[int]) -> np.ndarray:
        with self.lock:
            return self.galleries.allowed_ids(gallery_ids)

    def gallery_sizes(self) -> dict[int, int]:
        with self.lock:
            return self.galleries.gallery_sizes()


@dataclass(frozen=True)
class FeedState:
    pruned_through: int
    generation: int


class IndexManager:
    """The process's indexes, one per model name."""

    def __init__(self, options_factory: OptionsFactory | None = None) -> None:
        self._indexes: dict[str, ModelIndex] = {}
        # _lock guards the dicts only and is never held during a build, so a search
        # never waits behind one; _build_locks make builds of one model take turns.
        self._lock = threading.Lock()
        self._build_locks: dict[str, threading.Lock] = {}
        self._rebuilding: dict[str, threading.Thread] = {}
        self.options_factory = options_factory or (lambda model_name: IndexOptions())

    def get(self, model_name: str) -> ModelIndex:
        """The index for `model_name`, built on first use and caught up with the feed."""
        current = self._indexes.get(model_name)
        if current is None:
            with self._build_lock(model_name):
                current = self._indexes.get(model_name)
                if current is None:  # nobody built it while this thread waited
                    current = self._build(model_name)
                    with self._lock:
                        self._indexes[model_name] = current
            return current
        feed = feed_state()
        if feed.pruned_through > current.cursor.position or feed.generation != current.generation:
            self.rebuild_in_background(model_name)
        else:
            apply_feed(current)
        return current

    def get_ready(self, model_name: str) -> ModelIndex | None:
        """Like get(), but a model with no index yet is built in the background: None meanwhile.

        A process that starts cold then answers from pgvector (the caller's
        fallback) instead of making the first searches wait for the build.
        """
        if model_name not in self._indexes and indexing_config().index_build_in_background:
            self.rebuild_in_background(model_name)
            return None
        return self.get(model_name)

    def rebuild_in_background(self, model_name: str) -> threading.Thread:
        with self._lock:
            running = self._rebuilding.get(model_name)
            if running is not None:
                return running

            requested_over = self._indexes.get(model_name)

            def work() -> None:
                try:
                    with self._build_lock(model_name):
                        if self._indexes.get(model_name) is not requested_over:
                            return  # another build (the warm-up, a first search) replaced it
                        fresh = self._build(model_name)
                        apply_feed(fresh)
                        with self._lock:
                            self._indexes[model_name] = fresh
                except Exception:
                    logger.exception(
                        "Rebuilding the %s index failed; the old one stays", model_name
                    )
                finally:
                    with self._lock:
                        self._rebuilding.pop(model_name, None)
                    connection.close()  # this thread's own connection: do not leak it

            thread = threading.Thread(target=work, name=f"index-rebuild-{model_name}", daemon=True)
            self._rebuilding[model_name] = thread
            thread.start()
            return thread

    def wait_for_rebuilds(self, timeout: float = 60.0) -> None:
        for thread in list(self._rebuilding.values()):
            thread.join(timeout)

    def loaded(self) -> dict[str, ModelIndex]:
        return dict(self._indexes)

    def forget(self, model_names: set[str]) -> None:
        """Drop these models' indexes (searches holding one finish with it)."""
        with self._lock:
            for name in model_names:
                self._indexes.pop(name, None)

    def clear(self) -> None:
        self.wait_for_rebuilds()
        with self._lock:
            self._indexes.clear()

    def _build_lock(self, model_name: str) -> threading.Lock:
        with self._lock:
            return self._build_locks.setdefault(model_name, threading.Lock())

    def _build(self, model_name: str) -> ModelIndex:
        return build_model_index(model_name, self.options_factory(model_name))


def build_model_index(model_name: str, options: IndexOptions | None = None) -> ModelIndex:
    """Load every embedding of `model_name` from pgvector into a fresh index."""
    started = time.perf_counter()
    gap_timeout = indexing_config().index_feed_gap_timeout_s
    feed = feed_state()
    # Start the cursor before the events that may still belong to open transactions:
    # replaying them later is harmless, missing them is not.
    settled = timezone.now() - timedelta(seconds=gap_timeout)
    position = IndexEvent.objects.filter(created_at__lt=settled).aggregate(m=Max("id"))["m"] or 0
    state = ModelIndex(
        model_name=model_name,
        backend=indexing_config().index_backend,
        options=options or IndexOptions(),
        cursor=ChangeCursor(max(position, feed.pruned_through), gap_timeout=gap_timeout),
        generation=feed.generation,
    )
    for chunk in iter_embeddings(model_name, chunk_size=_LOAD_CHUNK):
        state.upsert(chunk.image_ids, chunk.gallery_ids, chunk.vectors)
    _load_feedback_vectors(state, None)
    logger.info(
        "Built the %s %s index: %d vectors in %.2f s",
        state.backend,
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
            _load_feedback_vectors(state, image_ids)
        state.cursor.advance(eid for eid, _ in fresh)
        return len(image_ids)


def _load_feedback_vectors(state: ModelIndex, image_ids: list[int] | None) -> None:
    """Hot images' refined vectors replace their embeddings; expansions join their own index."""
    if indexing_config().hot_refinement:
        refined = providers.refined(state.model_name, image_ids=image_ids)
        if refined:
            ids = np.fromiter(refined, np.int64, len(refined))
            present = ids[state.galleries.contains(ids)]
            if len(present):
                galleries = state.galleries.galleries_of(present)
                vectors = np.stack([refined[int(i)] for i in present])
                state.upsert(present, galleries, vectors)
    if indexing_config().expansion:
        touched = image_ids if image_ids is not None else []
        state.set_expansions(touched, providers.expansions(state.model_name, image_ids=image_ids))


def feed_state() -> FeedState:
    """The feed's pruning point and generation; a moved model epoch (a model switch) makes
    this process reload which model search uses (runtime.selection_seen), in the same read."""
    row = (
        IndexFeedState.objects.filter(pk=1)
        .values_list("pruned_through", "generation", "model_epoch")
        .first()
    )
    from indexing.runtime import selection_seen

    if selection_seen(row[2] if row else 0):
        _forget_unused_models()
    return FeedState(row[0], row[1]) if row else FeedState(0, 0)


def _forget_unused_models() -> None:
    """After a switch or a prune: free the memory of managed models search no longer uses
    (a rollback rebuilds the index from pgvector on its first search)."""
    from indexing.models import ManagedModel

    unused = ManagedModel.objects.exclude(role__in=["active", "candidate"]).values_list(
        "model_name", flat=True
    )
    manager.forget(set(unused))


manager = IndexManager(index_options)
