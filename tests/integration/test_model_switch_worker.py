"""A model switch end to end with a real Celery worker: fake encoder -> random-weight CLIP -> back.

The worker embeds the collection with the candidate (maintenance queue, in
batches), computes its statistics and fits its cutoffs; this process searches
throughout and must always find every image; the switch reaches this process
through the feed's model epoch; rolling back and pruning follow.
"""

from __future__ import annotations

import time

import pytest
from django.db import connection

from galleries.models import Image
from indexing.embedding import embedding_enqueue, images_embed
from indexing.encoders.fake import FakeEncoder
from indexing.model_models import ManagedModel
from indexing.models import Embedding
from indexing.runtime import active_model_name
from search.cutoff_models import CutoffCalibration
from search.model_prune import models_prune
from search.model_switch import model_activate
from search.models import GalleryStatistics
from search.request import SearchRequest
from search.services import search_images
from tests.factories import GalleryFactory, add_member, png_bytes, upload
from tests.models.conftest import FAKE_KEY, TINY_LOCAL_KEY
from tests.services import celery_worker, database_url, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PER_GALLERY = 55  # two galleries: 110 images, above the 100 a collection fit needs


@pytest.fixture
def worker(test_environment, broker, tmp_path, settings):
    settings.CBIR_THRESHOLD_DEBOUNCE_S = 0
    settings.CBIR_THRESHOLD_MIN_IMAGES = 5
    env = {
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": test_environment["redis_url"],
        "CBIR_MEDIA_ROOT": settings.MEDIA_ROOT,
        "CBIR_ENCODER": "fake",
        "CBIR_ENV": "development",
        "CBIR_THRESHOLD_DEBOUNCE_S": "0",
        "CBIR_THRESHOLD_MIN_IMAGES": "5",
        "CBIR_MODEL_REEMBED_BATCH": "16",
    }
    log = tmp_path / "worker.log"
    with celery_worker(env, log_path=log) as proc:
        proc.log_path = log  # type: ignore[attr-defined]
        yield proc


def _all_found(user, expected: set[int]) -> bool:
    """Every ready image is found (`expected` must be among them: it is the floor)."""
    ready = set(Image.objects.filter(status="ready").values_list("pk", flat=True))
    assert expected <= ready
    result = search_images(
        user=user, request=SearchRequest(text="red", k=len(ready) + 10, mode="topk")
    )
    found = {hit.image.pk for hit in result.hits}
    assert found == ready, f"{len(ready - found)} images missing under {result.model_name}"
    return True


def test_switch_rollback_and_prune_with_a_real_worker(cast, worker, managed_models):
    tiny = managed_models.identity()
    other = GalleryFactory(slug="second", organisation=cast.organisation, owner=cast.owner)
    add_member(other, cast.viewer, "viewer")
    images = []
    for i in range(PER_GALLERY):
        images.append(upload(cast.gallery, png_bytes((i * 4, 255 - i * 4, 60), size=(24, 24))))
        images.append(upload(other, png_bytes((255 - i * 4, 30, i * 4), size=(24, 24))))
    images_embed(image_ids=[i.pk for i in images])  # the active (fake) model, here
    expected = {i.pk for i in images}
    # The fake model's statistics and cutoffs, computed by the worker.
    wait_for(
        lambda: CutoffCalibration.objects.filter(model_name=FakeEncoder.name).exists(),
        timeout=120,
        what="the worker to fit the fake model's cutoffs",
        interval=0.5,
    )

    model_activate(key=TINY_LOCAL_KEY)
    assert ManagedModel.objects.get(key=TINY_LOCAL_KEY).role == "candidate"

    # Searches during the switch: always every image; one upload meanwhile, embedded by both.
    partial_seen = False
    late = None
    for _ in range(600):
        role = ManagedModel.objects.get(key=TINY_LOCAL_KEY).role
        covered = Embedding.objects.filter(model_name=tiny).count()
        if role == "active":
            break
        if 0 < covered < len(expected):
            partial_seen = True
            if late is None:
                late = upload(cast.gallery, png_bytes((250, 5, 5), size=(24, 24)), name="late.png")
                embedding_enqueue([late.pk])
        if late is not None and Embedding.objects.filter(image=late).count() == 2:
            expected.add(late.pk)
        _all_found(cast.owner, expected)
        time.sleep(0.3)
    else:
        row = ManagedModel.objects.get(key=TINY_LOCAL_KEY)
        pytest.fail(f"no switch: {row.switch_note}\n{worker.log_path.read_text()[-3000:]}")
    assert partial_seen, "the catch-up finished before any search saw it half-way"
    assert late is not None
    wait_for(
        lambda: Embedding.objects.filter(image=late).count() == 2,
        timeout=60,
        what="the upload during the switch to be embedded by both models",
    )
    expected.add(late.pk)

    # The switch waited for the candidate's own statistics and fitted cutoffs.
    switched = ManagedModel.objects.get(key=TINY_LOCAL_KEY)
    assert switched.switch_note.endswith("with its statistics and fitted cutoffs")
    assert CutoffCalibration.objects.filter(model_name=tiny, source="fitted_collection").exists()
    assert GalleryStatistics.objects.filter(model_name=tiny).count() == 2
    assert ManagedModel.objects.get(key=FAKE_KEY).role == "retired"
    # This process learns of the switch through the feed (its next search reads the epoch).
    search_images(user=cast.owner, request=SearchRequest(text="red", k=5, mode="topk"))
    assert active_model_name() == tiny
    _all_found(cast.owner, expected)
    _all_found(cast.viewer, expected)

    # Rollback: the fake model catches up on what it missed and takes over again.
    after = upload(other, png_bytes((5, 250, 5), size=(24, 24)), name="after.png")
    embedding_enqueue([after.pk])
    wait_for(
        lambda: Embedding.objects.filter(image=after, model_name=tiny).exists(),
        timeout=60,
        what="the new active model to embed a new upload",
    )
    expected.add(after.pk)
    model_activate(key=FAKE_KEY)
    wait_for(
        lambda: ManagedModel.objects.get(key=FAKE_KEY).role == "active",
        timeout=120,
        what="the rollback to the fake model",
        interval=0.5,
    )
    assert Embedding.objects.filter(image=after, model_name=FakeEncoder.name).exists()
    search_images(user=cast.owner, request=SearchRequest(text="red", k=5, mode="topk"))
    assert active_model_name() == FakeEncoder.name
    _all_found(cast.owner, expected)

    # Prune: only the retired model's rows go.
    fake_rows = Embedding.objects.filter(model_name=FakeEncoder.name).count()
    reports = models_prune()
    assert [r.model_name for r in reports] == [tiny]
    assert not Embedding.objects.filter(model_name=tiny).exists()
    assert not CutoffCalibration.objects.filter(model_name=tiny).exists()
    assert (
        Embedding.objects.filter(model_name=FakeEncoder.name).count() == fake_rows == len(expected)
    )
    assert CutoffCalibration.objects.filter(model_name=FakeEncoder.name).exists()
    _all_found(cast.owner, expected)
