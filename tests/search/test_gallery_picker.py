"""The search page's gallery picker: names told apart, image counts, all ticked = all."""

from __future__ import annotations

import pytest
from django.test import Client

from feedback.models import SearchSession
from galleries.selectors import gallery_labels
from indexing.embedding import images_embed
from tests.factories import GalleryFactory, OrganisationFactory, add_member, png_bytes, upload

pytestmark = pytest.mark.django_db


def test_galleries_with_the_same_name_are_told_apart():
    acme, umbrella = OrganisationFactory(name="Acme"), OrganisationFactory(name="Umbrella")
    rows = [
        GalleryFactory(name="GA private", slug="ga-1", organisation=acme),
        GalleryFactory(name="GA private", slug="ga-2", organisation=umbrella),
        GalleryFactory(name="ga private ", slug="ga-3", organisation=umbrella),
        GalleryFactory(name="Holidays", slug="holidays"),
    ]
    labels = gallery_labels(rows)
    assert [labels[g.pk] for g in rows] == [
        "GA private (Acme)",
        "GA private (ga-2)",  # the same name in the same organisation: by slug
        "ga private  (ga-3)",
        "Holidays",
    ]


def test_picker_shows_counts_and_only_visible_galleries(cast):
    twin = GalleryFactory(name=cast.gallery.name, slug="twin", owner=cast.owner)
    add_member(twin, cast.viewer, "viewer")
    GalleryFactory(name="Not yours", slug="not-yours")
    for n in range(3):
        upload(cast.gallery, png_bytes((n * 40, 0, 0)), name=f"{n}.png")
    client = Client()
    client.force_login(cast.viewer)
    page = client.get("/search/").content.decode()
    assert "Not yours" not in page
    assert f"{cast.gallery.name} (Acme)" in page and f"{cast.gallery.name} (twin)" in page
    assert "3 images" in page and "0 images" in page
    assert 'data-testid="galleries-all"' in page


def test_every_gallery_ticked_is_the_same_as_none(cast):
    other = GalleryFactory(slug="other", owner=cast.owner)
    add_member(other, cast.viewer, "viewer")
    image = upload(cast.gallery, png_bytes((250, 0, 0)), name="red.png")
    images_embed(image_ids=[image.pk])
    client = Client()
    client.force_login(cast.viewer)
    client.post("/search/", {"q": "red", "mode": "topk", "galleries": ["private", "other"]})
    client.post("/search/", {"q": "red", "mode": "topk", "galleries": ["private"]})
    every, one = SearchSession.objects.order_by("created_at")
    assert sorted(every.gallery_ids) == sorted([cast.gallery.pk, other.pk])
    assert one.gallery_ids == [cast.gallery.pk]
    # "Edit search" of the first names no gallery: it searched all the user can see.
    edit = client.get(f"/search/sessions/{every.pk}/").content.decode()
    assert "galleries=private" not in edit
