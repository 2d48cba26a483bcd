"""The embedding pipeline: batched, idempotent, failures recorded on the image."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.files.storage import default_storage

from galleries.models import Image
from indexing.embedding import images_embed
from indexing.encoders.fake import FakeEncoder
from indexing.models import Embedding, IndexEvent
from tests.factories import png_bytes, upload

pytestmark = pytest.mark.django_db


class CountingEncoder(FakeEncoder):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def encode_images(self, images):  # type: ignore[no-untyped-def]
        self.batches.append(len(images))
        return super().encode_images(images)


def test_pending_images_become_ready_with_one_embedding_each(cast):
    images = [upload(cast.gallery, png_bytes((i * 40, 0, 0)), name=f"{i}.png") for i in range(3)]
    encoder = CountingEncoder()
    report = images_embed(image_ids=[i.pk for i in images], encoder=encoder)
    assert sorted(report.embedded) == sorted(i.pk for i in images)
    assert encoder.batches == [3]  # one forward pass for the batch
    assert set(Image.objects.values_list("status", flat=True)) == {"ready"}
    rows = Embedding.objects.filter(model_name=encoder.name)
    assert rows.count() == 3 and {r.gallery_id for r in rows} == {cast.gallery.pk}
    vector = np.asarray(rows.first().vector)
    assert vector.shape == (encoder.dim,) and np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    assert IndexEvent.objects.filter(image_id__in=[i.pk for i in images]).count() == 3


def test_running_twice_stores_nothing_twice(cast):
    image = upload(cast.gallery)
    encoder = CountingEncoder()
    images_embed(image_ids=[image.pk], encoder=encoder)
    second = images_embed(image_ids=[image.pk], encoder=encoder)
    assert second.skipped == [image.pk] and second.embedded == []
    assert encoder.batches == [1]  # the model did not run again
    assert Embedding.objects.filter(image=image).count() == 1


def test_a_retried_task_fixes_a_status_left_pending(cast):
    image = upload(cast.gallery)
    images_embed(image_ids=[image.pk], encoder=FakeEncoder())
    Image.objects.filter(pk=image.pk).update(
        status="pending"
    )  # as if the worker died before the update
    images_embed(image_ids=[image.pk], encoder=FakeEncoder())
    assert Image.objects.get(pk=image.pk).status == "ready"


def test_missing_file_marks_only_that_image_failed(cast):
    good, bad = (
        upload(cast.gallery, png_bytes((1, 2, 3))),
        upload(cast.gallery, png_bytes((9, 9, 9))),
    )
    default_storage.delete(bad.file.name)
    report = images_embed(image_ids=[good.pk, bad.pk], encoder=FakeEncoder())
    assert report.embedded == [good.pk] and bad.pk in report.failed
    bad.refresh_from_db()
    assert bad.status == "failed" and "missing" in bad.failure_reason
    assert Image.objects.get(pk=good.pk).status == "ready"


def test_deleted_images_are_reported_missing_not_errors(cast):
    image = upload(cast.gallery)
    report = images_embed(image_ids=[image.pk, 999_999], encoder=FakeEncoder())
    assert report.missing == [999_999] and report.embedded == [image.pk]


def test_each_attempt_is_counted(cast):
    image = upload(cast.gallery)
    images_embed(image_ids=[image.pk], encoder=FakeEncoder())
    assert Image.objects.get(pk=image.pk).attempts == 1


def test_a_second_model_adds_rows_beside_the_first(cast):
    class OtherModel(FakeEncoder):
        name = "fake:other"

    image = upload(cast.gallery)
    images_embed(image_ids=[image.pk], encoder=FakeEncoder())
    images_embed(image_ids=[image.pk], encoder=OtherModel())
    assert set(Embedding.objects.filter(image=image).values_list("model_name", flat=True)) == {
        FakeEncoder.name,
        "fake:other",
    }
