"""Search modes: top-k, static, dynamic and query-time thresholds, paginated."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from cbir_site.errors import InvalidInputError
from indexing.embedding import images_embed
from indexing.encoders.fake import FakeEncoder
from search.request import SearchRequest
from search.services import search_images
from search.statistics import gallery_statistics_update
from search.thresholds import distance_from_similarity
from tests.factories import GalleryFactory, add_member, png_bytes, upload

pytestmark = pytest.mark.django_db
MODEL = FakeEncoder.name

REDS = [(250 - 6 * i, 8 + 3 * i, 10 + 2 * i) for i in range(8)]
MIXED = [(250, 0, 0), (0, 250, 0), (0, 0, 250), (250, 250, 0), (0, 250, 250), (250, 0, 250)]


@pytest.fixture(autouse=True)
def threshold_settings(settings):
    settings.CBIR_THRESHOLD_MIN_IMAGES = 3
    settings.CBIR_THRESHOLD_NEIGHBOURS = 2
    settings.CBIR_THRESHOLD_STATIC_TEXT = 0.5
    settings.CBIR_THRESHOLD_STATIC_IMAGE = 0.5
    settings.CBIR_THRESHOLD_WEIGHT = 1.0
    # These tests drive the gallery statistic with text queries: keep text on it (the
    # calibrated text cutoffs have their own tests, test_text_cutoff.py).
    settings.CBIR_TEXT_CUTOFF = "dynamic"
    cache.clear()


@pytest.fixture
def galleries(cast):
    reds, mixed = cast.gallery, GalleryFactory(slug="mixed", owner=cast.owner)
    add_member(mixed, cast.viewer, "viewer")
    images = [upload(reds, png_bytes(c), name=f"red{n}.png") for n, c in enumerate(REDS)]
    images += [upload(mixed, png_bytes(c), name=f"mix{n}.png") for n, c in enumerate(MIXED)]
    images_embed(image_ids=[i.pk for i in images], encoder=FakeEncoder())
    return reds, mixed


def with_statistics(*galleries) -> None:  # type: ignore[no-untyped-def]
    for gallery in galleries:
        gallery_statistics_update(gallery_id=gallery.pk, model_name=MODEL)


def test_auto_is_top_k_until_a_gallery_has_a_statistic(cast, galleries):
    result = search_images(user=cast.viewer, request=SearchRequest(text="red", k=3))
    assert result.mode == "topk" and len(result.hits) == 3 and result.thresholds == []
    with_statistics(*galleries)
    result = search_images(user=cast.viewer, request=SearchRequest(text="red", k=3))
    assert result.mode == "dynamic"
    assert {t.source for t in result.thresholds} == {"dynamic"}


def test_auto_mode_chooses_per_gallery(cast, galleries):
    reds, _mixed = galleries
    with_statistics(reds)  # the mixed gallery has none (as a gallery too small would)
    result = search_images(user=cast.viewer, request=SearchRequest(text="red", k=2, page_size=50))
    used = {t.gallery.slug: t for t in result.thresholds}
    assert result.mode == "dynamic"
    assert used["private"].source == "dynamic" and used["mixed"].source == "topk"
    assert used["mixed"].distance is None and used["mixed"].similarity is None
    by_gallery = {"private": [], "mixed": []}
    for hit in result.hits:
        by_gallery[hit.image.gallery.slug].append(hit)
    assert len(by_gallery["mixed"]) == 2  # its best k, whatever their distance
    assert all(h.distance < used["private"].distance for h in by_gallery["private"])
    assert [h.score for h in result.hits] == sorted((h.score for h in result.hits), reverse=True)
    only_reds = search_images(
        user=cast.viewer, request=SearchRequest(text="red", k=2, mode="dynamic")
    )
    assert {t.gallery.slug: t.source for t in only_reds.thresholds}["mixed"] == "static"


def test_static_threshold_returns_every_close_hit_paginated_not_cut_at_k(cast, galleries):
    result = search_images(
        user=cast.viewer, request=SearchRequest(text="red", mode="static", k=3, page_size=3)
    )
    # every image closer than T_static: all the reds and the pure red of the mixed gallery
    assert result.total == 9 and len(result.hits) == 3 and result.page == 1
    assert all(h.distance < 0.5 for h in result.hits)
    last = search_images(
        user=cast.viewer, request=SearchRequest(text="red", mode="static", page=3, page_size=3)
    )
    assert [h.rank for h in last.hits] == [7, 8, 9]
    assert (
        search_images(
            user=cast.viewer, request=SearchRequest(text="red", mode="static", page=4, page_size=3)
        ).hits
        == []
    )
    assert {t.source for t in result.thresholds} == {"static"}
    threshold = result.thresholds[0]
    assert float(distance_from_similarity(threshold.similarity)) == pytest.approx(
        threshold.distance
    )


def test_dynamic_thresholds_are_per_gallery(cast, galleries):
    reds, mixed = galleries
    with_statistics(reds, mixed)
    result = search_images(
        user=cast.viewer, request=SearchRequest(text="red", mode="dynamic", k=50)
    )
    cutoffs = {t.gallery.slug: t.distance for t in result.thresholds}
    assert cutoffs["private"] < 0.5 < cutoffs["mixed"]  # tight gallery: stricter cutoff
    for hit in result.hits:
        assert hit.distance < cutoffs[hit.image.gallery.slug]


def test_query_time_variant_reports_its_own_cutoffs(cast, galleries):
    with_statistics(*galleries)
    result = search_images(user=cast.viewer, request=SearchRequest(text="red", mode="query", k=50))
    assert result.mode == "query" and {t.source for t in result.thresholds} == {"query"}
    for hit in result.hits:
        cutoff = next(t for t in result.thresholds if t.gallery == hit.image.gallery)
        assert hit.distance < cutoff.distance


def _m_q(cast, slug, n, **query):  # type: ignore[no-untyped-def]
    top = search_images(
        user=cast.viewer, request=SearchRequest(gallery_slugs=[slug], mode="topk", k=n, **query)
    )
    return sum(h.distance for h in top.hits) / n


def test_query_time_cutoffs_follow_the_formula(cast, galleries, settings):
    from search.statistics import global_mean_for

    reds, mixed = galleries
    with_statistics(reds, mixed)
    settings.CBIR_THRESHOLD_STATIC_IMAGE = 1.0  # keeps every cutoff inside [0, 2]: no clipping
    n, static, w = 2, 0.5, 1.0  # the fixture's n, text T_static and w
    text = {g: _m_q(cast, g, n, text="red") for g in ("private", "mixed")}
    result = search_images(user=cast.viewer, request=SearchRequest(text="red", mode="query", k=50))
    got = {t.gallery.slug: t.distance for t in result.thresholds}
    mean = sum(text.values()) / 2  # text queries: M over the query's own statistics
    for slug, m_q in text.items():
        assert got[slug] == pytest.approx(static + w * (m_q - mean), abs=1e-5)
    example = reds.images.order_by("pk").first()
    image = {g: _m_q(cast, g, n, image_id=example.pk) for g in ("private", "mixed")}
    result = search_images(
        user=cast.viewer, request=SearchRequest(image_id=example.pk, mode="query", k=50)
    )
    got = {t.gallery.slug: t.distance for t in result.thresholds}
    overall = global_mean_for(MODEL)  # image queries: the deployment's M of m_g
    for slug, m_q in image.items():
        assert got[slug] == pytest.approx(1.0 + w * (m_q - overall), abs=1e-5)


def test_dynamic_mode_falls_back_to_static_for_galleries_without_a_statistic(cast, galleries):
    reds, _mixed = galleries
    with_statistics(reds)
    result = search_images(user=cast.viewer, request=SearchRequest(text="red", mode="dynamic"))
    sources = {t.gallery.slug: t.source for t in result.thresholds}
    assert sources == {"private": "dynamic", "mixed": "static"}


def test_thresholded_search_never_shows_other_peoples_galleries(cast, galleries):
    with_statistics(*galleries)
    result = search_images(user=cast.outsider, request=SearchRequest(text="red", mode="static"))
    assert result.total == 0 and result.hits == []


def test_example_image_is_excluded_from_thresholded_results(cast, galleries):
    example = galleries[0].images.first()
    result = search_images(
        user=cast.viewer, request=SearchRequest(image_id=example.pk, mode="static", k=50)
    )
    assert example.pk not in [h.image.pk for h in result.hits] and result.total > 0


def test_bad_mode_and_page_are_refused(cast, galleries):
    with pytest.raises(InvalidInputError):
        search_images(user=cast.viewer, request=SearchRequest(text="red", mode="fuzzy"))
    with pytest.raises(InvalidInputError):
        search_images(user=cast.viewer, request=SearchRequest(text="red", mode="static", page=0))


def test_api_reports_mode_thresholds_and_pages(cast, client_for, galleries):
    with_statistics(*galleries)
    response = client_for(cast.viewer).post(
        "/api/v1/search/",
        {"text": "red", "mode": "static", "page_size": 2, "page": 2},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["mode"] == "static" and body["metric"] == "cosine_similarity"
    assert body["page"] == 2 and body["page_size"] == 2 and body["total"] == 9
    assert [r["rank"] for r in body["results"]] == [3, 4]
    assert {t["gallery"] for t in body["thresholds"]} == {"private", "mixed"}
    assert all(0 <= t["distance"] <= 2 for t in body["thresholds"])
