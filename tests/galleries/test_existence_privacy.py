"""Creating a gallery or adding a member never confirms a gallery or an account one cannot see.

Slugs: a taken slug gets a random suffix, never a counter, and anyone who
cannot see every gallery gets a random suffix whether or not the slug is taken.
Members: test_member_privacy.py.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from cbir_site.errors import ConflictError
from galleries import services, slugs
from galleries.models import Gallery, Membership
from tests.factories import GalleryFactory, OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db

SUFFIXED = r"{}-[a-z0-9]{{6}}"


@pytest.fixture
def hidden(cast) -> Gallery:  # type: ignore[no-untyped-def]
    """A private gallery nobody in the cast can see."""
    stranger = UserFactory(username="stranger")
    return GalleryFactory(name="GA private", slug="ga-private", owner=stranger)


def _suffixed(slug: str, base: str) -> bool:
    return re.fullmatch(SUFFIXED.format(base), slug) is not None


# ---------------------------------------------------------------- slugs: API


def test_a_taken_and_a_free_slug_answer_alike_through_the_api(cast, hidden, client_for):
    client = client_for(cast.outsider)
    url = reverse("api:gallery-list")
    taken = client.post(url, {"name": "Mine", "slug": "ga-private"}, format="json")
    free = client.post(url, {"name": "Mine", "slug": "ga-unused"}, format="json")
    assert (taken.status_code, free.status_code) == (201, 201)
    assert _suffixed(taken.data["slug"], "ga-private")
    assert _suffixed(free.data["slug"], "ga-unused")
    assert Gallery.objects.filter(slug="ga-unused").count() == 0


def test_a_visible_collision_answers_like_an_invisible_one(cast, client_for):
    response = client_for(cast.owner).post(
        reverse("api:gallery-list"), {"name": "Again", "slug": "private"}, format="json"
    )
    assert response.status_code == 201
    assert _suffixed(response.data["slug"], "private")


def test_a_superuser_keeps_a_free_slug_and_gets_a_random_suffix_on_a_taken_one(hidden, client_for):
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    url = reverse("api:gallery-list")
    free = client_for(root).post(url, {"name": "Root", "slug": "root-things"}, format="json")
    taken = client_for(root).post(url, {"name": "Root", "slug": "ga-private"}, format="json")
    assert free.data["slug"] == "root-things"
    assert _suffixed(taken.data["slug"], "ga-private")


# ---------------------------------------------------------------- slugs: web form and admin


def test_the_web_form_never_reveals_a_hidden_slug(cast, hidden):
    client = Client()
    client.force_login(cast.outsider)
    for name in ("GA private", "GA unused"):
        response = client.post(reverse("galleries:list"), {"name": name, "visibility": "private"})
        assert response.status_code == 302
        slug = response["Location"].strip("/").rsplit("/", 1)[-1]
        assert _suffixed(slug, slugs.slug_base(name)), slug


def test_a_manager_cannot_choose_a_slug_in_the_admin(cast, hidden):
    cast.owner.is_staff = True
    cast.owner.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(cast.owner)
    add = reverse("admin:galleries_gallery_add")
    assert 'name="slug"' not in client.get(add).content.decode()
    form = {
        "name": "GA private",
        "slug": "ga-private",  # ignored: not a field for managers
        "description": "",
        "visibility": "private",
        "organisation": "",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    response = client.post(add, form)
    assert response.status_code == 302
    created = Gallery.objects.exclude(pk=hidden.pk).get(name="GA private")
    assert _suffixed(created.slug, "ga-private")
    assert created.memberships.get().user == cast.owner
    change = reverse("admin:galleries_gallery_change", args=[created.pk])
    assert 'name="slug"' not in client.get(change).content.decode()


def test_a_superuser_still_edits_slugs_in_the_admin(cast):
    client = Client()
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))
    page = client.get(reverse("admin:galleries_gallery_change", args=[cast.gallery.pk]))
    assert 'name="slug"' in page.content.decode()


# ---------------------------------------------------------------- slugs: service


def test_operator_paths_keep_a_free_slug_and_suffix_a_taken_one(cast, hidden):
    free = services.gallery_create(user=cast.owner, name="Imported", slug="imported")
    taken = services.gallery_create(user=cast.owner, name="Imported", slug="ga-private")
    assert free.slug == "imported"
    assert _suffixed(taken.slug, "ga-private") and not taken.slug.endswith("-2")
    OrganisationFactory(slug="demo")
    organisation = services.organisation_create(name="Demo", slug="demo")
    assert _suffixed(organisation.slug, "demo")


def test_a_lost_race_for_a_suffix_is_retried_by_the_unique_constraint(cast, monkeypatch):
    GalleryFactory(slug="race-aaaaaa")
    suffixes = iter(["aaaaaa", "bbbbbb"])
    monkeypatch.setattr(slugs, "random_suffix", lambda: next(suffixes))
    gallery = services.gallery_create(
        user=cast.outsider, name="Race", slug="race", hide_taken_slugs=True
    )
    assert gallery.slug == "race-bbbbbb"
    assert gallery.memberships.get().user == cast.outsider


def test_when_every_suffix_collides_nothing_is_written(cast, monkeypatch):
    GalleryFactory(slug="race-aaaaaa")
    monkeypatch.setattr(slugs, "random_suffix", lambda: "aaaaaa")
    before = (Gallery.objects.count(), Membership.objects.count())
    with pytest.raises(ConflictError):
        services.gallery_create(user=cast.outsider, name="Race", slug="race", hide_taken_slugs=True)
    assert (Gallery.objects.count(), Membership.objects.count()) == before


def test_the_organisation_rule_is_still_enforced_by_the_database(cast):
    with pytest.raises(Exception, match="org_visibility_needs_org"):
        slugs.save_with_unique_slug(
            Gallery(name="Bad", visibility="organisation"), text="bad", always_suffix=False
        )
    assert not Gallery.objects.filter(name="Bad").exists()
