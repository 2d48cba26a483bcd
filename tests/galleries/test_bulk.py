"""Bulk select in a gallery: zip download (anyone who may see it), delete (owners and editors)."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.test import Client

from galleries.models import Image
from tests.factories import GalleryFactory, png_bytes, upload

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def three(cast):  # type: ignore[no-untyped-def]
    return [
        upload(cast.gallery, png_bytes((n * 60, 0, 0)), name=name)
        for n, name in enumerate(["one.png", "two.png", "one.png"])  # a repeated display name
    ]


def zip_names(content: bytes) -> list[str]:
    return sorted(zipfile.ZipFile(io.BytesIO(content)).namelist())


def test_a_viewer_downloads_the_selected_originals_as_a_zip(cast, three):
    response = signed_in(cast.viewer).post(
        "/galleries/private/bulk/", {"action": "download", "ids": [i.pk for i in three]}
    )
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    content = b"".join(response.streaming_content)
    assert zip_names(content) == ["one (2).png", "one.png", "two.png"]
    archive = zipfile.ZipFile(io.BytesIO(content))
    with three[1].file.open("rb") as original:
        assert archive.read("two.png") == original.read()


def test_an_outsider_cannot_download_a_private_gallery(cast, three):
    ids = [i.pk for i in three]
    page = signed_in(cast.outsider).post(
        "/galleries/private/bulk/", {"action": "download", "ids": ids}
    )
    assert page.status_code == 404
    api = signed_in(cast.outsider).post(
        "/api/v1/galleries/private/images/download/", {"ids": ids}, content_type="application/json"
    )
    assert api.status_code == 404


def test_ids_of_another_gallery_are_refused_whole(cast, three):
    elsewhere = GalleryFactory(slug="elsewhere", owner=cast.owner)
    foreign = upload(elsewhere, png_bytes((1, 2, 3)), name="foreign.png")
    response = signed_in(cast.owner).post(
        "/api/v1/galleries/private/images/delete/",
        {"ids": [three[0].pk, foreign.pk]},
        content_type="application/json",
    )
    assert response.status_code == 404 and str(foreign.pk) in response.json()["detail"]
    assert Image.objects.count() == 4


def test_a_download_over_the_byte_bound_is_refused_before_writing(cast, three, settings):
    settings.CBIR_BULK_DOWNLOAD_MAX_BYTES = sum(i.byte_size for i in three) - 1
    api = signed_in(cast.viewer).post(
        "/api/v1/galleries/private/images/download/",
        {"ids": [i.pk for i in three]},
        content_type="application/json",
    )
    assert api.status_code == 413 and "Select fewer" in api.json()["detail"]
    page = signed_in(cast.viewer).post(
        "/galleries/private/bulk/",
        {"action": "download", "ids": [i.pk for i in three]},
        follow=True,
    )
    assert b"Select fewer" in page.content


def test_too_many_images_at_once_are_refused(cast, three, settings):
    settings.CBIR_BULK_MAX_IMAGES = 2
    api = signed_in(cast.owner).post(
        "/api/v1/galleries/private/images/delete/",
        {"ids": [i.pk for i in three]},
        content_type="application/json",
    )
    assert api.status_code == 400 and "At most 2" in api.json()["detail"]
    assert Image.objects.count() == 3


def test_delete_asks_on_a_page_then_deletes(cast, three):
    client = signed_in(cast.editor)
    ids = [three[0].pk, three[1].pk]
    confirm = client.post("/galleries/private/bulk/", {"action": "delete", "ids": ids})
    assert confirm.status_code == 200 and b'data-testid="bulk-confirm"' in confirm.content
    assert b"Delete 2 images" in confirm.content and Image.objects.count() == 3
    done = client.post(
        "/galleries/private/bulk/", {"action": "delete-confirmed", "ids": ids}, follow=True
    )
    assert b"Deleted 2 images." in done.content
    assert list(Image.objects.values_list("pk", flat=True)) == [three[2].pk]


def test_one_image_reads_in_the_singular(cast, three):
    done = signed_in(cast.owner).post(
        "/galleries/private/bulk/",
        {"action": "delete-confirmed", "ids": [three[0].pk]},
        follow=True,
    )
    assert b"Deleted 1 image." in done.content


@pytest.mark.parametrize("who", ["viewer", "org_member", "outsider"])
def test_only_owners_and_editors_delete(cast, three, who):
    user = getattr(cast, who)
    expected = 403 if who == "viewer" else 404  # the others may not see the gallery at all
    ids = [i.pk for i in three]
    for action in ("delete", "delete-confirmed"):
        page = signed_in(user).post("/galleries/private/bulk/", {"action": action, "ids": ids})
        assert page.status_code == expected
    api = signed_in(user).post(
        "/api/v1/galleries/private/images/delete/", {"ids": ids}, content_type="application/json"
    )
    assert api.status_code == expected
    assert Image.objects.count() == 3


def test_the_api_deletes_for_an_editor(cast, three):
    api = signed_in(cast.editor).post(
        "/api/v1/galleries/private/images/delete/",
        {"ids": [three[0].pk]},
        content_type="application/json",
    )
    assert api.status_code == 200 and api.json() == {"deleted": 1}
    assert Image.objects.count() == 2


def test_gallery_page_offers_delete_to_editors_only(cast, three):
    editor = signed_in(cast.editor).get("/galleries/private/").content
    viewer = signed_in(cast.viewer).get("/galleries/private/").content
    assert b'data-testid="bulk-delete"' in editor and b'data-testid="bulk-delete"' not in viewer
    assert b'data-testid="bulk-download"' in viewer
    assert viewer.count(b"data-bulk-item") == 3
