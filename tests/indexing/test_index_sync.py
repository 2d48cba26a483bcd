"""In-memory indexes are derived from pgvector and follow its changes across processes."""

from __future__ import annotations

import numpy as np
import pytest

from galleries import services
from indexing.embedding import images_embed, index_events_prune
from indexing.encoders.fake import FakeEncoder
from indexing.index_sync import IndexManager, apply_feed
from indexing.models import IndexEvent
from tests.factories import GalleryFactory, png_bytes, upload

pytestmark = pytest.mark.django_db
MODEL = FakeEncoder.name


def embed(*images):  # type: ignore[no-untyped-def]
    images_embed(image_ids=[i.pk for i in images], encoder=FakeEncoder())


def test_index_is_built_from_pgvector_with_gallery_membership(cast):
    other = GalleryFactory(owner=cast.owner)
    a, b = upload(cast.gallery, png_bytes((255, 0, 0))), upload(other, png_bytes((0, 0, 255)))
    embed(a, b)
    state = IndexManager().get(MODEL)
    assert len(state) == 2
    assert state.allowed_ids([cast.gallery.pk]).tolist() == [a.pk]
    assert state.gallery_sizes() == {cast.gallery.pk: 1, other.pk: 1}


def test_a_second_process_sees_new_embeddings_through_the_feed(cast):
    searcher = IndexManager()  # stands for another web process with its own index
    first = upload(cast.gallery, png_bytes((255, 0, 0)))
    embed(first)
    assert len(searcher.get(MODEL)) == 1
    second = upload(cast.gallery, png_bytes((0, 255, 0)))
    embed(second)
    state = searcher.get(MODEL)
    assert len(state) == 2 and second.pk in state.allowed_ids([cast.gallery.pk])


def test_deleted_images_leave_other_processes_indexes(cast):
    searcher = IndexManager()
    a, b = (
        upload(cast.gallery, png_bytes((255, 0, 0))),
        upload(cast.gallery, png_bytes((0, 255, 0))),
    )
    embed(a, b)
    assert len(searcher.get(MODEL)) == 2
    services.image_delete(image=a)
    state = searcher.get(MODEL)
    assert len(state) == 1 and state.allowed_ids([cast.gallery.pk]).tolist() == [b.pk]
    hits = state.index.search(np.ones((1, FakeEncoder().dim), np.float32), 5)
    assert a.pk not in hits.ids


def test_deleting_a_gallery_empties_it_from_the_index(cast):
    searcher = IndexManager()
    embed(
        upload(cast.gallery, png_bytes((255, 0, 0))), upload(cast.gallery, png_bytes((0, 0, 255)))
    )
    assert len(searcher.get(MODEL)) == 2
    services.gallery_delete(gallery=cast.gallery)
    assert len(searcher.get(MODEL)) == 0


def test_replaying_the_feed_is_harmless(cast):
    searcher = IndexManager()
    image = upload(cast.gallery)
    embed(image)
    state = searcher.get(MODEL)
    state.cursor.position = 0  # pretend nothing was applied yet
    state.cursor._applied_above.clear()
    apply_feed(state)
    assert len(state) == 1


@pytest.mark.django_db(transaction=True)  # the rebuild thread reads committed data only
def test_a_process_behind_the_pruned_feed_rebuilds(cast):
    searcher = IndexManager()
    embed(upload(cast.gallery, png_bytes((255, 0, 0))))
    state = searcher.get(MODEL)
    embed(upload(cast.gallery, png_bytes((0, 255, 0))))
    assert index_events_prune(older_than_s=-60) >= 2  # everything pruned, events included
    assert IndexEvent.objects.count() == 0
    assert searcher.get(MODEL) is state  # notices it is behind: rebuilds in the background...
    _wait_for_rebuild(searcher)
    assert len(searcher.get(MODEL)) == 2
    assert searcher.get(MODEL) is not state


def _wait_for_rebuild(manager: IndexManager) -> None:
    import time

    deadline = time.monotonic() + 10
    while manager._rebuilding and time.monotonic() < deadline:
        time.sleep(0.05)


def test_binary_bulk_read_returns_exactly_the_stored_vectors(cast):
    from indexing.models import Embedding
    from indexing.vector_io import iter_embeddings

    images = [upload(cast.gallery, png_bytes((i * 30, 5, 5)), name=f"{i}.png") for i in range(5)]
    embed(*images)
    chunks = list(iter_embeddings(MODEL, chunk_size=2))
    assert [len(c) for c in chunks] == [2, 2, 1]
    got = {int(i): v for c in chunks for i, v in zip(c.image_ids, c.vectors, strict=True)}
    for row in Embedding.objects.filter(model_name=MODEL):
        assert got[row.image_id].dtype == np.float32
        assert np.array_equal(got[row.image_id], np.asarray(row.vector, dtype=np.float32))
    only = list(iter_embeddings(MODEL, image_ids=[images[0].pk]))
    assert only[0].image_ids.tolist() == [images[0].pk]
    assert only[0].gallery_ids.tolist() == [cast.gallery.pk]


@pytest.mark.django_db(transaction=True)  # the build thread reads committed data only
def test_a_cold_process_answers_from_pgvector_while_its_index_builds(cast, settings):
    from indexing.backends import get_backend

    settings.CBIR_INDEX_BUILD_IN_BACKGROUND = True
    red, blue = (
        upload(cast.gallery, png_bytes((255, 0, 0))),
        upload(cast.gallery, png_bytes((0, 0, 255))),
    )
    embed(red, blue)
    from indexing.index_sync import manager

    manager.clear()
    query = FakeEncoder().encode_texts(["red"])[0]
    first = get_backend().top_k(MODEL, query, 2, [cast.gallery.pk])  # no index yet: PostgreSQL
    assert [h.image_id for h in first] == [red.pk, blue.pk]
    _wait_for_rebuild(manager)
    assert MODEL in manager.loaded()  # built meanwhile
    again = get_backend().top_k(MODEL, query, 2, [cast.gallery.pk])
    assert [h.image_id for h in again] == [red.pk, blue.pk]
    assert [round(h.score, 4) for h in again] == [round(h.score, 4) for h in first]


@pytest.mark.django_db(transaction=True)  # the build threads read committed data only
def test_a_search_does_not_wait_behind_the_warm_up_build(settings):
    import threading
    import time

    from django.db import connection

    settings.CBIR_INDEX_BUILD_IN_BACKGROUND = True
    started, release, builds = threading.Event(), threading.Event(), []

    class SlowBuilds(IndexManager):
        def _build(self, model_name):  # type: ignore[no-untyped-def]
            builds.append(model_name)
            started.set()
            release.wait(10)
            return super()._build(model_name)

    manager = SlowBuilds()

    def warm_up() -> None:  # what gunicorn's post_worker_init thread does
        try:
            manager.get(MODEL)
        finally:
            connection.close()

    warm = threading.Thread(target=warm_up)
    warm.start()
    assert started.wait(5)
    began = time.monotonic()
    assert manager.get_ready(MODEL) is None  # answered at once: the caller uses pgvector
    assert time.monotonic() - began < 1.0
    release.set()
    warm.join(10)
    manager.wait_for_rebuilds()
    assert MODEL in manager.loaded()
    assert builds == [MODEL]  # the rebuild asked for meanwhile saw the fresh index and skipped
