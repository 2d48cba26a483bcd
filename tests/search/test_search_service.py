"""Search end to end in-process: encode, permission-filtered FAISS search, ranked hits."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from cbir_site.errors import (
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    ServiceUnavailableError,
)
from galleries.models import Gallery
from indexing.embedding import images_embed
from search.request import SearchRequest
from search.services import search_images
from tests.factories import GalleryFactory, png_bytes, upload

pytestmark = pytest.mark.django_db

RED, GREEN, BLUE = (250, 10, 10), (10, 250, 10), (10, 10, 250)


@pytest.fixture
def colours(cast):
    images = {
        name: upload(cast.gallery, png_bytes(rgb), name=f"{name}.png")
        for name, rgb in {"red": RED, "green": GREEN, "blue": BLUE}.items()
    }
    images_embed(image_ids=[i.pk for i in images.values()])
    return images


def names(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [hit.image.original_filename for hit in result.hits]


def test_text_query_ranks_the_matching_image_first(cast, colours):
    result = search_images(user=cast.viewer, request=SearchRequest(text="something green", k=3))
    assert names(result)[0] == "green.png"
    assert [h.rank for h in result.hits] == [1, 2, 3]
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)
    top = result.hits[0]
    assert top.distance == pytest.approx((2 - 2 * top.score) ** 0.5, abs=1e-6)
    assert result.metric == "cosine_similarity" and result.query_kinds == ["text"]


def test_example_image_upload_finds_the_same_colour(cast, colours):
    result = search_images(
        user=cast.viewer,
        request=SearchRequest(image_data=png_bytes((0, 0, 230), size=(20, 20)), k=1),
    )
    assert names(result) == ["blue.png"]


def test_stored_example_image_is_not_its_own_result(cast, colours):
    result = search_images(user=cast.viewer, request=SearchRequest(image_id=colours["red"].pk, k=5))
    assert "red.png" not in names(result) and len(result.hits) == 2


def test_text_and_image_combine_into_one_query(cast, colours):
    result = search_images(
        user=cast.viewer, request=SearchRequest(text="blue", image_data=png_bytes(BLUE), k=1)
    )
    assert names(result) == ["blue.png"] and result.query_kinds == ["text", "image"]


def test_k_limits_the_results(cast, colours):
    assert len(search_images(user=cast.viewer, request=SearchRequest(text="red", k=2)).hits) == 2


def test_gallery_filter_searches_only_the_named_galleries(cast, colours):
    other = GalleryFactory(slug="other", owner=cast.viewer)
    extra = upload(other, png_bytes(RED), name="other-red.png")
    images_embed(image_ids=[extra.pk])
    assert names(
        search_images(
            user=cast.viewer, request=SearchRequest(text="red", gallery_slugs=["other"], k=5)
        )
    ) == ["other-red.png"]
    everywhere = names(search_images(user=cast.viewer, request=SearchRequest(text="red", k=5)))
    assert set(everywhere) == {"red.png", "green.png", "blue.png", "other-red.png"}


def test_outsider_finds_nothing_in_a_private_gallery(cast, colours):
    assert search_images(user=cast.outsider, request=SearchRequest(text="red", k=5)).hits == []
    with pytest.raises(NotFoundError):
        search_images(
            user=cast.outsider, request=SearchRequest(text="red", gallery_slugs=["private"])
        )
    with pytest.raises(NotFoundError):
        search_images(user=cast.outsider, request=SearchRequest(image_id=colours["red"].pk))


def test_anonymous_callers_search_public_galleries_only(cast, colours):
    public = GalleryFactory(slug="public", visibility=Gallery.Visibility.PUBLIC, owner=cast.owner)
    image = upload(public, png_bytes(RED), name="public-red.png")
    images_embed(image_ids=[image.pk])
    assert names(search_images(user=AnonymousUser(), request=SearchRequest(text="red", k=10))) == [
        "public-red.png"
    ]


def test_pending_images_are_not_searchable_yet(cast, colours):
    upload(cast.gallery, png_bytes((240, 240, 10)), name="yellow.png")  # never embedded
    assert "yellow.png" not in names(
        search_images(user=cast.viewer, request=SearchRequest(text="yellow", k=10))
    )


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({}, InvalidInputError),
        ({"text": "   "}, InvalidInputError),
        ({"text": "x" * 1001}, InvalidInputError),
        ({"text": "red", "k": 0}, InvalidInputError),
        ({"text": "red", "k": 10**6}, InvalidInputError),
        ({"image_data": b"not an image"}, InvalidInputError),
        ({"image_id": 10**9}, NotFoundError),
        ({"text": "red", "gallery_slugs": ["no-such-gallery"]}, NotFoundError),
    ],
)
def test_bad_queries_are_refused_with_a_message(cast, kwargs, error):
    with pytest.raises(error) as info:
        search_images(user=cast.viewer, request=SearchRequest(**kwargs))
    assert info.value.message


def test_oversize_example_image_is_refused(cast, settings):
    settings.CBIR_MAX_UPLOAD_BYTES = 2048
    with pytest.raises(PayloadTooLargeError):
        search_images(
            user=cast.viewer,
            request=SearchRequest(image_data=png_bytes(size=(300, 300)) + b"\0" * 4096),
        )


def test_missing_weights_give_a_clear_service_unavailable(cast, use_encoder):
    use_encoder(
        "open_clip", CBIR_OPENCLIP_MODEL="ViT-B-32", CBIR_OPENCLIP_PRETRAINED="laion2b_s34b_b79k"
    )
    with pytest.raises(ServiceUnavailableError, match="CBIR_OPENCLIP"):
        search_images(user=cast.viewer, request=SearchRequest(text="red"))
