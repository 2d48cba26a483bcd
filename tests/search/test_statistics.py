"""Gallery statistics: debounced scheduling, m_g and M stored, thresholds follow M."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.core.cache import cache

from galleries import services
from indexing.embedding import images_embed
from indexing.encoders.fake import FakeEncoder
from indexing.models import Embedding
from search.cutoffs import gallery_cutoff_overrides_set
from search.models import GalleryStatistics
from search.statistics import (
    gallery_statistics_schedule,
    gallery_statistics_update,
    stale_statistics,
    thresholds_for,
    thresholds_refresh,
)
from search.thresholds import mean_neighbour_distance
from tests.factories import GalleryFactory, png_bytes, upload

pytestmark = pytest.mark.django_db
MODEL = FakeEncoder.name


@pytest.fixture(autouse=True)
def small_galleries_count(settings):
    settings.CBIR_THRESHOLD_MIN_IMAGES = 3
    settings.CBIR_THRESHOLD_NEIGHBOURS = 2
    settings.CBIR_THRESHOLD_STATIC_IMAGE = 1.2
    settings.CBIR_THRESHOLD_STATIC_TEXT = 1.0
    settings.CBIR_THRESHOLD_WEIGHT = 0.5
    cache.clear()


def filled(gallery, colours):  # type: ignore[no-untyped-def]
    images = [upload(gallery, png_bytes(c), name=f"{n}.png") for n, c in enumerate(colours)]
    images_embed(image_ids=[i.pk for i in images], encoder=FakeEncoder())
    return images


TIGHT = [(200, 10, 10), (205, 12, 10), (210, 10, 14), (198, 8, 9)]  # four reds
LOOSE = [(250, 0, 0), (0, 250, 0), (0, 0, 250), (250, 250, 0)]  # four different colours


def queued_statistics(broker) -> list[list]:  # type: ignore[no-untyped-def]
    out = []
    for raw in broker.lrange(django_settings.CBIR_MAINTENANCE_QUEUE, 0, -1):
        message = json.loads(raw)
        if message["headers"]["task"] == "search.tasks.update_gallery_statistics":
            out.append(message["headers"]["argsrepr"])
    return out


def test_m_g_is_stored_with_what_it_covers(cast):
    images = filled(cast.gallery, TIGHT)
    stats = gallery_statistics_update(gallery_id=cast.gallery.pk, model_name=MODEL)
    vectors = np.stack([np.asarray(Embedding.objects.get(image=i).vector) for i in images]).astype(
        np.float32
    )
    assert stats.mean_distance == pytest.approx(mean_neighbour_distance(vectors, 2), abs=1e-6)
    assert (stats.image_count, stats.sampled, stats.neighbours) == (4, 4, 2)
    assert stats.global_mean == pytest.approx(stats.mean_distance)  # the only gallery
    assert stats.threshold_image == pytest.approx(1.2) and stats.threshold_text == pytest.approx(
        1.0
    )
    assert stats.computed_at is not None and stats.thresholds_at is not None


def test_thresholds_move_with_the_global_mean_without_recomputing_others(cast):
    tight, loose = cast.gallery, GalleryFactory(owner=cast.owner)
    filled(tight, TIGHT)
    filled(loose, LOOSE)
    first = gallery_statistics_update(gallery_id=tight.pk, model_name=MODEL)
    computed_at = first.computed_at
    second = gallery_statistics_update(gallery_id=loose.pk, model_name=MODEL)
    first.refresh_from_db()
    assert first.computed_at == computed_at  # m_g of the tight gallery was not recomputed
    overall = (first.mean_distance + second.mean_distance) / 2
    assert first.global_mean == pytest.approx(overall) == second.global_mean
    # T_g = T_static + w (m_g - M): the tight gallery gets a stricter cutoff than the loose one
    assert first.threshold_image == pytest.approx(1.2 + 0.5 * (first.mean_distance - overall))
    assert first.threshold_image < 1.2 < second.threshold_image


def test_too_small_galleries_get_no_statistic_and_leave_m(cast):
    filled(cast.gallery, TIGHT[:2])
    assert gallery_statistics_update(gallery_id=cast.gallery.pk, model_name=MODEL) is None
    assert not GalleryStatistics.objects.exists()


def test_a_deleted_gallery_leaves_the_global_mean(cast):
    other = GalleryFactory(owner=cast.owner)
    filled(cast.gallery, TIGHT)
    filled(other, LOOSE)
    gallery_statistics_update(gallery_id=cast.gallery.pk, model_name=MODEL)
    gallery_statistics_update(gallery_id=other.pk, model_name=MODEL)
    tight_only = GalleryStatistics.objects.get(gallery=cast.gallery).mean_distance
    other_id = other.pk
    services.gallery_delete(gallery=other)
    gallery_statistics_update(gallery_id=other_id, model_name=MODEL)  # what the queued task does
    row = GalleryStatistics.objects.get(gallery=cast.gallery)
    assert row.global_mean == pytest.approx(tight_only)


def test_changes_are_debounced_into_one_task_per_gallery(
    cast, broker, settings, django_capture_on_commit_callbacks
):
    settings.CBIR_THRESHOLD_DEBOUNCE_S = 30
    other = GalleryFactory(owner=cast.owner)
    with django_capture_on_commit_callbacks(execute=True):
        assert gallery_statistics_schedule(gallery_ids=[cast.gallery.pk], model_name=MODEL) == [
            cast.gallery.pk
        ]
        for _ in range(5):  # a burst of uploads to the same gallery
            assert (
                gallery_statistics_schedule(gallery_ids=[cast.gallery.pk], model_name=MODEL) == []
            )
        gallery_statistics_schedule(gallery_ids=[other.pk, cast.gallery.pk], model_name=MODEL)
    assert sorted(queued_statistics(broker)) == sorted(
        [f"({cast.gallery.pk}, '{MODEL}')", f"({other.pk}, '{MODEL}')"]
    )
    message = json.loads(broker.lrange(django_settings.CBIR_MAINTENANCE_QUEUE, 0, 0)[0])
    assert message["headers"]["eta"] is not None  # runs after the quiet period, not at once


def test_the_task_starting_reopens_the_gallery_for_scheduling(
    cast, broker, django_capture_on_commit_callbacks
):
    filled(cast.gallery, TIGHT)
    with django_capture_on_commit_callbacks(execute=True):
        gallery_statistics_schedule(gallery_ids=[cast.gallery.pk], model_name=MODEL)
    gallery_statistics_update(gallery_id=cast.gallery.pk, model_name=MODEL)
    with django_capture_on_commit_callbacks(execute=True):
        assert gallery_statistics_schedule(gallery_ids=[cast.gallery.pk], model_name=MODEL) == [
            cast.gallery.pk
        ]


def test_embedding_new_images_schedules_their_gallery(
    cast, broker, django_capture_on_commit_callbacks
):
    image = upload(cast.gallery)
    with django_capture_on_commit_callbacks(execute=True):
        images_embed(image_ids=[image.pk], encoder=FakeEncoder())
    assert queued_statistics(broker) == [f"({cast.gallery.pk}, '{MODEL}')"]


def test_stale_statistics_are_found(cast):
    filled(cast.gallery, TIGHT)
    assert stale_statistics(model_name=MODEL) == [cast.gallery.pk]
    gallery_statistics_update(gallery_id=cast.gallery.pk, model_name=MODEL)
    assert stale_statistics(model_name=MODEL) == []
    filled(cast.gallery, [(0, 0, 1)])
    assert stale_statistics(model_name=MODEL) == [cast.gallery.pk]


def test_gallery_overrides_win_over_settings(cast):
    filled(cast.gallery, TIGHT)
    gallery_statistics_update(gallery_id=cast.gallery.pk, model_name=MODEL)
    gallery_cutoff_overrides_set(
        gallery=cast.gallery, model_name=MODEL, values={"static_text": 1.3}
    )
    thresholds_refresh(model_name=MODEL)
    text = thresholds_for([cast.gallery], model_name=MODEL, kind="text", dynamic=True)
    assert (
        text[cast.gallery.pk].distance == pytest.approx(1.3)
        and text[cast.gallery.pk].source == "dynamic"
    )
    static = thresholds_for([cast.gallery], model_name=MODEL, kind="image", dynamic=False)
    assert (
        static[cast.gallery.pk].distance == pytest.approx(1.2)
        and static[cast.gallery.pk].source == "static"
    )


def test_a_statistic_computed_with_another_n_is_stale(cast, settings):
    filled(cast.gallery, TIGHT)
    gallery_statistics_update(gallery_id=cast.gallery.pk, model_name=MODEL)
    assert stale_statistics(model_name=MODEL) == []
    settings.CBIR_THRESHOLD_NEIGHBOURS = 3  # the deployment's n changed
    assert stale_statistics(model_name=MODEL) == [cast.gallery.pk]
    settings.CBIR_THRESHOLD_NEIGHBOURS = 2
    # or the gallery's own override for this model
    gallery_cutoff_overrides_set(gallery=cast.gallery, model_name=MODEL, values={"neighbours": 3})
    assert stale_statistics(model_name=MODEL) == [cast.gallery.pk]
    gallery_statistics_update(gallery_id=cast.gallery.pk, model_name=MODEL)
    assert stale_statistics(model_name=MODEL) == []
    row = GalleryStatistics.objects.get(gallery=cast.gallery)
    assert row.neighbours == 3
    image = thresholds_for([cast.gallery], model_name=MODEL, kind="image", dynamic=True)
    assert image[cast.gallery.pk].source == "dynamic"
