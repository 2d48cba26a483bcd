"""Searches that ask for the whole collection (the evaluation's k = N): same answer, fewer reads."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from galleries.models import Image
from indexing.embedding import images_embed
from search.hit_rows import images_with_owners
from search.request import Mode, SearchRequest
from search.services import search_images
from tests.factories import GalleryFactory, UserFactory, add_member, png_bytes, upload

pytestmark = pytest.mark.django_db

COLOURS = [(250, 10, 10), (10, 250, 10), (10, 10, 250), (200, 200, 10), (10, 200, 200)]


@pytest.fixture
def collection(cast):
    """Five images in the cast's private gallery (uploaded by the owner, the editor and
    nobody), four in a second gallery the viewer may see, three in one the viewer may not."""
    shared = GalleryFactory(slug="shared", owner=cast.editor)
    add_member(shared, cast.viewer, "viewer")
    hidden = GalleryFactory(slug="hidden", owner=UserFactory(username="stranger"))
    uploaders = [cast.owner, cast.editor, None]
    images = [
        upload(cast.gallery, png_bytes(rgb), name=f"p{n}.png", user=uploaders[n % 3])
        for n, rgb in enumerate(COLOURS)
    ]
    images += [
        upload(shared, png_bytes(rgb, size=(40, 40)), name=f"s{n}.png", user=cast.editor)
        for n, rgb in enumerate(COLOURS[:4])
    ]
    images += [
        upload(hidden, png_bytes(rgb, size=(30, 50)), name=f"h{n}.png")
        for n, rgb in enumerate(COLOURS[:3])
    ]
    images_embed(image_ids=[i.pk for i in images])
    return images


def _reference_rows(ids: list[int]) -> dict[int, Image]:
    """The rows as search loaded them before: one select_related query."""
    return Image.objects.select_related("gallery", "uploaded_by").in_bulk(ids)


def _row(image: Image) -> tuple:
    fields = tuple(getattr(image, f.attname) for f in Image._meta.concrete_fields)
    uploader = image.uploaded_by.username if image.uploaded_by is not None else None
    return (*fields, image.gallery.pk, image.gallery.slug, image.gallery.name, uploader)


def test_whole_collection_search_returns_every_visible_image_best_first(cast, collection):
    result = search_images(
        user=cast.viewer, request=SearchRequest(text="something red", k=50, mode=Mode.TOPK)
    )
    visible = {i.pk for i in collection if i.gallery.slug != "hidden"}
    assert [h.image.pk for h in result.hits] == [i for i, _ in result.ranked]
    assert {h.image.pk for h in result.hits} == visible
    assert [h.rank for h in result.hits] == list(range(1, len(visible) + 1))
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)


def test_hit_rows_equal_the_select_related_rows(cast, collection):
    result = search_images(
        user=cast.viewer, request=SearchRequest(image_id=collection[0].pk, k=50, mode=Mode.TOPK)
    )
    reference = _reference_rows([h.image.pk for h in result.hits])
    assert [_row(h.image) for h in result.hits] == [
        _row(reference[h.image.pk]) for h in result.hits
    ]
    assert {h.image.uploaded_by for h in result.hits} == {cast.owner, cast.editor, None}


def test_hit_rows_take_the_same_queries_at_any_k(cast, collection):
    """No query per hit: reading galleries and uploaders of every hit adds nothing."""
    counts = []
    for k in (1, 50):
        with CaptureQueriesContext(connection) as queries:
            result = search_images(
                user=cast.viewer, request=SearchRequest(text="something red", k=k, mode=Mode.TOPK)
            )
            for hit in result.hits:
                assert hit.image.gallery.slug and (
                    hit.image.uploaded_by is None or hit.image.uploaded_by.username
                )
        counts.append(len(queries))
    assert len(result.hits) == 9
    assert counts[0] == counts[1]


def test_outsider_gets_no_hit_rows_at_any_k(cast, collection):
    for load_hits in (True, False):
        result = search_images(
            user=cast.outsider,
            load_hits=load_hits,
            request=SearchRequest(text="red", k=50, mode=Mode.TOPK),
        )
        assert result.hits == [] and result.ranked == []


def test_ranking_only_search_ranks_the_same_and_reads_no_image_row(cast, collection):
    full = search_images(
        user=cast.viewer, request=SearchRequest(image_id=collection[3].pk, k=50, mode=Mode.TOPK)
    )
    with CaptureQueriesContext(connection) as queries:
        ranked = search_images(
            user=cast.viewer,
            load_hits=False,
            request=SearchRequest(image_id=collection[3].pk, k=50, mode=Mode.TOPK),
        )
    assert ranked.ranked == full.ranked and len(full.ranked) == 8  # the example is left out
    assert ranked.hits == [] and ranked.total == full.total
    rows = [q["sql"] for q in queries if 'FROM "galleries_image"' in q["sql"]]
    assert len(rows) == 1 and f'"id" = {collection[3].pk})' in rows[0]  # the example's own row


def test_ranking_only_cutoff_search_keeps_its_ranking_and_shows_no_closest(
    cast, collection, settings
):
    settings.CBIR_THRESHOLD_STATIC_IMAGE = 0.0  # nothing passes: closest results would be shown
    shown = search_images(
        user=cast.viewer, request=SearchRequest(image_id=collection[0].pk, k=5, mode=Mode.STATIC)
    )
    assert shown.ranked == [] and shown.closest
    ranked = search_images(
        user=cast.viewer,
        load_hits=False,
        request=SearchRequest(image_id=collection[0].pk, k=5, mode=Mode.STATIC),
    )
    assert ranked.ranked == [] and ranked.closest == [] and ranked.notice is None


def test_images_with_owners_skips_deleted_ids_and_keeps_no_uploader(cast, collection):
    anonymous = collection[2]  # uploaded by nobody
    gone = collection[1].pk
    Image.objects.filter(pk=gone).delete()
    rows = images_with_owners([anonymous.pk, gone, collection[0].pk])
    assert set(rows) == {anonymous.pk, collection[0].pk}
    assert rows[anonymous.pk].uploaded_by is None
    assert rows[collection[0].pk].uploaded_by == cast.owner
    assert rows[collection[0].pk].gallery == cast.gallery
    assert images_with_owners([]) == {}
