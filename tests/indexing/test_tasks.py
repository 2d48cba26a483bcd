"""Celery tasks and the periodic sweep, run against the real Redis broker (no worker)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from galleries.models import Image
from indexing import tasks
from indexing.config import indexing_config
from indexing.embedding import images_embed, images_pending_sweep
from indexing.encoders.fake import FakeEncoder
from indexing.models import Embedding
from tests.factories import png_bytes, upload

pytestmark = pytest.mark.django_db


def queued_batches(broker) -> list[list[int]]:  # type: ignore[no-untyped-def]
    batches = []
    for raw in broker.lrange(django_settings.CBIR_EMBED_QUEUE, 0, -1):
        message = json.loads(raw)
        assert message["headers"]["task"] == "indexing.tasks.embed_images"
        body = json.loads(__import__("base64").b64decode(message["body"]))
        batches.append(body[0][0])
    return batches


def age(images, seconds: int) -> None:  # type: ignore[no-untyped-def]
    Image.objects.filter(pk__in=[i.pk for i in images]).update(
        updated_at=timezone.now() - timedelta(seconds=seconds)
    )


def test_embed_task_runs_the_service_and_reports(cast):
    image = upload(cast.gallery)
    assert tasks.embed_images.run([image.pk]) == {
        "embedded": 1,
        "skipped": 0,
        "failed": 0,
        "missing": 0,
    }
    assert Image.objects.get(pk=image.pk).status == "ready"


def test_task_is_configured_to_survive_a_killed_worker():
    task = tasks.embed_images
    assert task.acks_late and task.reject_on_worker_lost
    assert task.max_retries and task.autoretry_for


def test_final_failure_is_recorded_on_the_images(cast):
    image = upload(cast.gallery)
    tasks.embed_images.on_failure(MemoryError("batch too large"), "id", ([image.pk],), {}, None)
    image.refresh_from_db()
    assert image.status == "failed" and "batch too large" in image.failure_reason


def test_missing_weights_leave_images_pending(cast):
    from indexing.encoders.base import EncoderUnavailable

    image = upload(cast.gallery)
    tasks.embed_images.on_failure(EncoderUnavailable("no weights"), "id", ([image.pk],), {}, None)
    assert Image.objects.get(pk=image.pk).status == "pending"


def test_sweep_requeues_images_stuck_in_pending(
    cast, broker, django_capture_on_commit_callbacks, settings
):
    settings.CBIR_EMBED_BATCH_SIZE = 2
    stuck = [upload(cast.gallery, png_bytes((i, 0, 0)), name=f"{i}.png") for i in range(3)]
    fresh = upload(cast.gallery, png_bytes((0, 0, 200)), name="fresh.png")
    age(stuck, indexing_config().pending_retry_after_s + 5)
    with django_capture_on_commit_callbacks(execute=True):
        requeued = images_pending_sweep(model_name=FakeEncoder.name)
    assert sorted(requeued) == sorted(i.pk for i in stuck)
    assert fresh.pk not in requeued
    queued = [image_id for batch in queued_batches(broker) for image_id in batch]
    assert sorted(queued) == sorted(i.pk for i in stuck)
    assert sorted(len(b) for b in queued_batches(broker)) == [1, 2]  # batches, not one per image
    # touched: the next sweep waits a full period before trying them again
    assert images_pending_sweep(model_name=FakeEncoder.name) == []


def test_sweep_gives_up_after_the_maximum_attempts(cast, settings):
    image = upload(cast.gallery)
    Image.objects.filter(pk=image.pk).update(attempts=indexing_config().embed_max_attempts)
    age([image], indexing_config().pending_retry_after_s + 5)
    images_pending_sweep(model_name=FakeEncoder.name)
    image.refresh_from_db()
    assert image.status == "failed" and "Gave up" in image.failure_reason


def test_sweep_queues_ready_images_the_active_model_has_not_embedded(
    cast, broker, django_capture_on_commit_callbacks
):
    image = upload(cast.gallery)
    images_embed(image_ids=[image.pk], encoder=FakeEncoder())
    with django_capture_on_commit_callbacks(execute=True):
        assert images_pending_sweep(model_name="another:model") == [image.pk]
    assert queued_batches(broker) == [[image.pk]]
    assert Embedding.objects.filter(image=image).count() == 1


def test_background_work_can_be_switched_off(
    cast, broker, settings, django_capture_on_commit_callbacks
):
    from indexing.embedding import embedding_enqueue
    from search.statistics import gallery_statistics_schedule

    settings.CBIR_BACKGROUND_TASKS = False
    image = upload(cast.gallery)
    with django_capture_on_commit_callbacks(execute=True):
        embedding_enqueue([image.pk])
        assert gallery_statistics_schedule(gallery_ids=[cast.gallery.pk], model_name="m") == []
    assert all(broker.llen(queue) == 0 for queue in django_settings.CBIR_WORKER_QUEUES)
