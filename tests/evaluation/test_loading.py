"""Loading a dataset through the upload and embedding services; the on-disk vector cache."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.datasets_images import folder_of_classes
from evaluation.loading import (
    EVALUATION_USERNAME,
    dataset_load,
    embeddings_ensure,
    gallery_slug,
)
from evaluation.vector_cache import VectorCache
from galleries.models import Gallery, Image
from indexing.encoders.fake import FakeEncoder
from indexing.models import Embedding
from tests.evaluation.fixtures import make_classes, solid

pytestmark = pytest.mark.django_db


def quiet(_message: str) -> None:
    pass


def test_vector_cache_round_trip_is_per_model(tmp_path):
    cache = VectorCache(tmp_path, "model/a:1")
    cache.update({"abc": np.ones(4), "def": np.zeros(4)})
    cache.save()
    again = VectorCache(tmp_path, "model/a:1")
    assert len(again) == 2 and "abc" in again
    np.testing.assert_array_equal(again.stack(["def", "abc"]), [np.zeros(4), np.ones(4)])
    assert len(VectorCache(tmp_path, "model/b")) == 0


def test_dataset_loads_into_one_gallery_per_dataset_gallery_owned_by_the_evaluation_user(
    tmp_path,
):
    dataset = folder_of_classes(make_classes(tmp_path / "colours"))
    loaded = dataset_load(dataset=dataset, progress=False, log=quiet)
    assert loaded.user.username == EVALUATION_USERNAME
    assert sorted(loaded.slugs) == ["eval-colours-loose", "eval-colours-tight"]
    assert loaded.counts == {"created": 12}
    assert Image.objects.filter(gallery__slug="eval-colours-tight").count() == 6
    assert set(Image.objects.values_list("status", flat=True)) == {"pending"}  # nothing queued


def test_reloading_reuses_galleries_and_images_by_sha256(tmp_path):
    dataset = folder_of_classes(make_classes(tmp_path / "colours"))
    first = dataset_load(dataset=dataset, progress=False, log=quiet)
    second = dataset_load(dataset=dataset, progress=False, log=quiet)
    assert second.counts == {"reused": 12}
    assert second.image_ids == first.image_ids
    assert Gallery.objects.filter(slug__startswith="eval-").count() == 2


def test_images_no_longer_in_the_dataset_are_removed_from_its_gallery(tmp_path):
    root = make_classes(tmp_path / "colours")
    dataset_load(dataset=folder_of_classes(root), progress=False, log=quiet)
    (root / "tight" / "red" / "red-0.png").unlink()
    again = dataset_load(dataset=folder_of_classes(root), progress=False, log=quiet)
    assert again.counts == {"reused": 11, "removed": 1}
    assert Image.objects.filter(gallery__slug__startswith="eval-colours").count() == 11


def test_duplicate_files_share_one_image(tmp_path):
    root = tmp_path / "dups"
    solid(root / "a" / "x.png", (1, 2, 3))
    solid(root / "a" / "y.png", (1, 2, 3))
    loaded = dataset_load(dataset=folder_of_classes(root), progress=False, log=quiet)
    assert loaded.image_ids["a/x.png"] == loaded.image_ids["a/y.png"]
    assert loaded.counts == {"created": 1, "duplicate": 1}
    assert gallery_slug(loaded.dataset, "dups") == "eval-dups-dups"


def test_embeddings_come_from_the_encoder_then_the_database_then_the_cache(tmp_path):
    dataset = folder_of_classes(make_classes(tmp_path / "colours"))
    loaded = dataset_load(dataset=dataset, progress=False, log=quiet)
    cache_dir = tmp_path / "cache"
    encoder = FakeEncoder()
    first = embeddings_ensure(
        loaded=loaded, encoder=encoder, cache_dir=cache_dir, batch_size=5, progress=False, log=quiet
    )
    assert (first.encoded, first.in_database, first.from_cache) == (12, 0, 0)
    stored = dict(Embedding.objects.values_list("image_id", "vector"))
    assert set(Image.objects.values_list("status", flat=True)) == {"ready"}

    again = embeddings_ensure(
        loaded=loaded, encoder=encoder, cache_dir=cache_dir, progress=False, log=quiet
    )
    assert (again.encoded, again.in_database, again.from_cache) == (0, 12, 0)

    Embedding.objects.all().delete()  # a reset database: the cache answers, no encoder run

    class NoEncoding(FakeEncoder):
        def encode_images(self, images):  # type: ignore[no-untyped-def]
            raise AssertionError("the cache should have answered")

    cached = embeddings_ensure(
        loaded=loaded, encoder=NoEncoding(), cache_dir=cache_dir, progress=False, log=quiet
    )
    assert (cached.encoded, cached.in_database, cached.from_cache) == (0, 0, 12)
    for image_id, vector in Embedding.objects.values_list("image_id", "vector"):
        np.testing.assert_allclose(vector, stored[image_id], rtol=1e-6)
