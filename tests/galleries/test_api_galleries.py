"""Galleries, memberships, listing, indexing status, tokens and the API schema,
through the REST API."""

from __future__ import annotations

import re

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from galleries.models import Gallery, Image
from indexing.embedding import images_embed
from indexing.index_sync import manager
from indexing.models import Embedding
from indexing.runtime import active_model_name
from tests.factories import PASSWORD, GalleryFactory, OrganisationFactory, png_bytes, upload

pytestmark = pytest.mark.django_db


def colours(n: int) -> list[bytes]:
    return [png_bytes((10 * i, 100, 200 - 10 * i)) for i in range(n)]


# ---------------------------------------------------------------- create, update, delete


def test_creator_becomes_owner_of_a_new_gallery(cast, client_for):
    response = client_for(cast.outsider).post(
        reverse("api:gallery-list"), {"name": "Field notes", "description": "Birds"}, format="json"
    )
    assert response.status_code == 201
    assert (response.data["role"], response.data["visibility"]) == ("owner", "private")
    assert re.fullmatch(r"field-notes-[a-z0-9]{6}", response.data["slug"])  # see galleries.slugs
    gallery = Gallery.objects.get(slug=response.data["slug"])
    assert gallery.created_by == cast.outsider
    assert list(gallery.memberships.values_list("user__username", "role")) == [
        ("outsider", "owner")
    ]


def test_colliding_names_get_distinct_slugs(cast, client_for):
    client = client_for(cast.owner)
    slugs = [
        client.post(reverse("api:gallery-list"), {"name": "Holiday"}, format="json").data["slug"]
        for _ in range(3)
    ]
    assert len(set(slugs)) == 3
    assert all(re.fullmatch(r"holiday-[a-z0-9]{6}", slug) for slug in slugs)


def test_organisation_gallery_is_created_for_an_organisation_the_user_belongs_to(cast, client_for):
    response = client_for(cast.org_member).post(
        reverse("api:gallery-list"),
        {"name": "Team", "visibility": "organisation", "organisation": "acme"},
        format="json",
    )
    assert response.status_code == 201
    assert response.data["organisation"] == "acme"
    assert Gallery.objects.get(slug=response.data["slug"]).organisation == cast.organisation


def test_organisation_visibility_without_an_organisation_is_rejected(cast, client_for):
    response = client_for(cast.owner).post(
        reverse("api:gallery-list"), {"name": "Team", "visibility": "organisation"}, format="json"
    )
    assert response.status_code == 400
    assert not Gallery.objects.filter(name="Team").exists()


def test_organisation_the_user_does_not_belong_to_is_not_found(cast, client_for):
    OrganisationFactory(slug="rivals")
    response = client_for(cast.owner).post(
        reverse("api:gallery-list"),
        {"name": "Team", "visibility": "organisation", "organisation": "rivals"},
        format="json",
    )
    assert response.status_code == 404
    assert not Gallery.objects.filter(name="Team").exists()


def test_owner_can_change_name_description_and_visibility(cast, client_for):
    response = client_for(cast.owner).patch(
        reverse("api:gallery-detail", args=["private"]),
        {"name": "Renamed", "description": "New words", "visibility": "public"},
        format="json",
    )
    assert response.status_code == 200
    gallery = Gallery.objects.get(slug="private")
    assert (gallery.name, gallery.description, gallery.visibility) == (
        "Renamed",
        "New words",
        "public",
    )
    assert client_for(None).get(reverse("api:gallery-detail", args=["private"])).status_code == 200


def test_owner_cannot_share_with_an_organisation_they_are_not_in(cast, client_for):
    OrganisationFactory(slug="rivals")
    response = client_for(cast.owner).patch(
        reverse("api:gallery-detail", args=["private"]),
        {"visibility": "organisation", "organisation": "rivals"},
        format="json",
    )
    assert response.status_code == 404
    assert Gallery.objects.get(slug="private").visibility == "private"


def test_deleting_a_gallery_removes_its_images_files_and_index_entries(
    cast, client_for, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    images = [upload(cast.gallery, data) for data in colours(2)]
    images_embed(image_ids=[i.pk for i in images])
    model = active_model_name()
    assert len(manager.get(model)) == 2  # the in-memory index holds them before the delete
    paths = [p for i in images for p in (i.file.name, i.thumbnail.name)]
    assert all(default_storage.exists(p) for p in paths)

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(cast.owner).delete(reverse("api:gallery-detail", args=["private"]))

    assert response.status_code == 204
    assert not Gallery.objects.filter(slug="private").exists()
    assert not Image.objects.filter(pk__in=[i.pk for i in images]).exists()
    assert not Embedding.objects.filter(image_id__in=[i.pk for i in images]).exists()
    assert not any(default_storage.exists(p) for p in paths)
    assert len(manager.get(model)) == 0


def test_files_stay_until_the_delete_commits(cast, client_for, django_capture_on_commit_callbacks):
    image = upload(cast.gallery)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client_for(cast.owner).delete(reverse("api:gallery-detail", args=["private"]))
    assert default_storage.exists(image.file.name)
    for callback in callbacks:
        callback()
    assert not default_storage.exists(image.file.name)


# ---------------------------------------------------------------- memberships


def members(gallery: Gallery) -> dict[str, str]:
    return dict(gallery.memberships.values_list("user__username", "role"))


def test_owner_adds_changes_and_removes_a_member(cast, client_for):
    client = client_for(cast.owner)
    url = reverse("api:gallery-members", args=["private"])
    added = client.post(url, {"username": "orgmember", "role": "viewer"}, format="json")
    assert added.status_code == 201
    assert members(cast.gallery)["orgmember"] == "viewer"

    detail = reverse("api:gallery-member-detail", args=["private", cast.org_member.pk])
    changed = client.patch(detail, {"role": "editor"}, format="json")
    assert (changed.status_code, changed.data["role"]) == (200, "editor")
    assert members(cast.gallery)["orgmember"] == "editor"

    assert client.delete(detail).status_code == 204
    assert "orgmember" not in members(cast.gallery)
    assert (
        client_for(cast.org_member).get(reverse("api:gallery-detail", args=["private"])).status_code
        == 404
    )


def test_members_are_not_added_by_user_id(cast, client_for):
    response = client_for(cast.owner).post(
        reverse("api:gallery-members", args=["private"]),
        {"user_id": cast.org_member.pk, "role": "editor"},
        format="json",
    )
    assert response.status_code == 400
    assert "username" in response.data
    assert "orgmember" not in members(cast.gallery)


def test_members_list_names_every_member_and_role(cast, client_for):
    response = client_for(cast.viewer).get(reverse("api:gallery-members", args=["private"]))
    assert response.status_code == 200
    assert {(m["username"], m["role"]) for m in response.data["results"]} == {
        ("owner", "owner"),
        ("editor", "editor"),
        ("viewer", "viewer"),
    }


def test_last_owner_cannot_step_down(cast, client_for):
    response = client_for(cast.owner).patch(
        reverse("api:gallery-member-detail", args=["private", cast.owner.pk]),
        {"role": "editor"},
        format="json",
    )
    assert response.status_code == 409
    assert response.data["code"] == "conflict"
    assert members(cast.gallery)["owner"] == "owner"


def test_last_owner_cannot_be_removed(cast, client_for):
    response = client_for(cast.owner).delete(
        reverse("api:gallery-member-detail", args=["private", cast.owner.pk])
    )
    assert response.status_code == 409
    assert members(cast.gallery)["owner"] == "owner"


def test_an_owner_can_leave_once_another_owner_exists(cast, client_for):
    client = client_for(cast.owner)
    promote = client.patch(
        reverse("api:gallery-member-detail", args=["private", cast.editor.pk]),
        {"role": "owner"},
        format="json",
    )
    assert promote.status_code == 200
    leave = client.delete(reverse("api:gallery-member-detail", args=["private", cast.owner.pk]))
    assert leave.status_code == 204
    assert members(cast.gallery) == {"editor": "owner", "viewer": "viewer"}


def test_adding_an_unknown_user_is_not_found(cast, client_for):
    client = client_for(cast.owner)
    url = reverse("api:gallery-members", args=["private"])
    assert (
        client.post(url, {"username": "ghost", "role": "viewer"}, format="json").status_code == 404
    )
    assert len(members(cast.gallery)) == 3


def test_changing_someone_who_is_not_a_member_is_not_found(cast, client_for):
    response = client_for(cast.owner).patch(
        reverse("api:gallery-member-detail", args=["private", cast.outsider.pk]),
        {"role": "viewer"},
        format="json",
    )
    assert response.status_code == 404
    assert "outsider" not in members(cast.gallery)


def test_invalid_role_is_a_bad_request(cast, client_for):
    client = client_for(cast.owner)
    added = client.post(
        reverse("api:gallery-members", args=["private"]),
        {"username": "outsider", "role": "admin"},
        format="json",
    )
    changed = client.patch(
        reverse("api:gallery-member-detail", args=["private", cast.viewer.pk]),
        {"role": "god"},
        format="json",
    )
    assert (added.status_code, changed.status_code) == (400, 400)
    assert "role" in added.data and "role" in changed.data
    assert members(cast.gallery)["viewer"] == "viewer"
    assert "outsider" not in members(cast.gallery)


# ---------------------------------------------------------------- pagination


def test_gallery_list_is_paginated(cast, client_for):
    for i in range(4):
        GalleryFactory(name=f"Page {i}", slug=f"page-{i}", owner=cast.outsider)
    client = client_for(cast.outsider)
    first = client.get(reverse("api:gallery-list"), {"page_size": 3})
    second = client.get(reverse("api:gallery-list"), {"page_size": 3, "page": 2})

    assert first.data["count"] == second.data["count"] == 4
    assert [g["slug"] for g in first.data["results"]] == ["page-0", "page-1", "page-2"]
    assert [g["slug"] for g in second.data["results"]] == ["page-3"]
    assert first.data["next"] and first.data["previous"] is None and second.data["next"] is None
    assert client.get(reverse("api:gallery-list"), {"page_size": 3, "page": 3}).status_code == 404


def test_image_list_is_paginated_newest_first(cast, client_for):
    images = [upload(cast.gallery, data) for data in colours(5)]
    client = client_for(cast.viewer)
    url = reverse("api:gallery-images", args=["private"])
    pages = [client.get(url, {"page_size": 2, "page": n}).data for n in (1, 2, 3)]

    assert [p["count"] for p in pages] == [5, 5, 5]
    assert [[i["id"] for i in p["results"]] for p in pages] == [
        [images[4].pk, images[3].pk],
        [images[2].pk, images[1].pk],
        [images[0].pk],
    ]


def test_list_pages_keep_their_limits_and_know_the_last(cast, client_for):
    images = [upload(cast.gallery, data) for data in colours(3)]
    client = client_for(cast.viewer)
    url = reverse("api:gallery-images", args=["private"])
    last = client.get(url, {"page_size": 2, "page": "last"}).data
    assert [i["id"] for i in last["results"]] == [images[0].pk]
    assert last["next"] is None and "page=" not in last["previous"]
    for size in ("0", "-1", "many"):  # no usable size: the default page
        assert len(client.get(url, {"page_size": size}).data["results"]) == 3
    assert client.get(url, {"page": "x"}).status_code == 404


def test_members_list_is_paginated(cast, client_for):
    response = client_for(cast.owner).get(
        reverse("api:gallery-members", args=["private"]), {"page_size": 2}
    )
    assert response.data["count"] == 3
    assert [m["username"] for m in response.data["results"]] == ["editor", "owner"]


# ---------------------------------------------------------------- indexing status and status filter


def status_of(client, slug: str = "private") -> dict:  # type: ignore[no-untyped-def]
    response = client.get(reverse("api:gallery-status", args=[slug]))
    assert response.status_code == 200
    return dict(response.data)


def test_status_counts_follow_embedding(cast, client_for):
    images = [upload(cast.gallery, data) for data in colours(3)]
    client = client_for(cast.viewer)
    before = status_of(client)
    assert {
        k: before[k] for k in ("total", "pending", "ready", "failed", "indexed", "progress")
    } == {
        "total": 3,
        "pending": 3,
        "ready": 0,
        "failed": 0,
        "indexed": 0,
        "progress": 0.0,
    }
    assert before["model_name"] == active_model_name()

    default_storage.delete(images[2].file.name)  # this one cannot be embedded
    images_embed(image_ids=[i.pk for i in images])

    after = status_of(client)
    assert {
        k: after[k] for k in ("total", "pending", "ready", "failed", "indexed", "progress")
    } == {
        "total": 3,
        "pending": 0,
        "ready": 2,
        "failed": 1,
        "indexed": 2,
        "progress": round(2 / 3, 4),
    }


def test_status_of_an_empty_gallery_is_complete(cast, client_for):
    assert status_of(client_for(cast.owner))["progress"] == 1.0


def test_image_list_filters_by_status(cast, client_for):
    ready, pending = (
        upload(cast.gallery, png_bytes((1, 1, 1))),
        upload(cast.gallery, png_bytes((2, 2, 2))),
    )
    images_embed(image_ids=[ready.pk])
    client = client_for(cast.viewer)
    url = reverse("api:gallery-images", args=["private"])

    def ids(status: str) -> list[int]:
        return [i["id"] for i in client.get(url, {"status": status}).data["results"]]

    assert ids("ready") == [ready.pk]
    assert ids("pending") == [pending.pk]
    assert ids("failed") == []


def test_gallery_page_filters_by_status_and_ignores_an_unknown_one(cast, client_for):
    ready, _ = (
        upload(cast.gallery, png_bytes((3, 3, 3))),
        upload(cast.gallery, png_bytes((4,) * 3)),
    )
    images_embed(image_ids=[ready.pk])
    client = Client()
    client.force_login(cast.viewer)
    url = reverse("galleries:detail", args=["private"])
    assert list(client.get(url, {"status": "ready"}).context["page"]) == [ready]
    shown = client.get(url, {"status": "done"})
    assert shown.status_code == 200 and shown.context["page"].paginator.count == 2


def test_image_list_rejects_an_unknown_status(cast, client_for):
    response = client_for(cast.viewer).get(
        reverse("api:gallery-images", args=["private"]), {"status": "done"}
    )
    assert response.status_code == 400
    assert "pending" in response.data["detail"]


# ---------------------------------------------------------------- tokens


def test_token_from_password_works_until_revoked(cast):
    client = APIClient()
    obtained = client.post(
        reverse("api:token-obtain"), {"username": "viewer", "password": PASSWORD}, format="json"
    )
    assert obtained.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Token {obtained.data['token']}")
    detail = reverse("api:gallery-detail", args=["private"])
    assert client.get(detail).status_code == 200

    assert client.delete(reverse("api:token-revoke")).status_code == 204
    assert not Token.objects.filter(user=cast.viewer).exists()
    after = client.get(detail)
    assert after.status_code == 401
    assert after["WWW-Authenticate"] == "Token"


def test_wrong_password_gets_no_token(cast):
    response = APIClient().post(
        reverse("api:token-obtain"), {"username": "viewer", "password": "wrong"}, format="json"
    )
    assert response.status_code == 400
    assert "token" not in response.data
    assert not Token.objects.filter(user=cast.viewer).exists()


# ---------------------------------------------------------------- schema and docs


def test_openapi_schema_describes_the_search_endpoint(db):
    response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    assert "/api/v1/search/" in response.json()["paths"]


def test_api_docs_page_is_served(db):
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
