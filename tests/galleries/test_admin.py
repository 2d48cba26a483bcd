"""The Django admin: superusers see everything, other staff only the galleries they own."""

from __future__ import annotations

import json

import pytest
from django.conf import settings as django_settings
from django.contrib.admin import helpers
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from galleries.models import Gallery, Image
from indexing.embedding import images_embed
from indexing.models import Embedding
from indexing.runtime import active_model_name
from tests.factories import GalleryFactory, OrganisationFactory, UserFactory, png_bytes, upload

pytestmark = pytest.mark.django_db

GALLERY_LIST = reverse("admin:galleries_gallery_changelist")
IMAGE_LIST = reverse("admin:galleries_image_changelist")
MEMBERSHIP_LIST = reverse("admin:galleries_membership_changelist")


@pytest.fixture
def staff(cast):  # type: ignore[no-untyped-def]
    """The private gallery's owner, made staff without any model permissions."""
    cast.owner.is_staff = True
    cast.owner.save(update_fields=["is_staff"])
    return cast.owner


@pytest.fixture
def other_gallery(cast) -> Gallery:  # type: ignore[no-untyped-def]
    rivals = OrganisationFactory(name="Rival Holdings Ltd", slug="rivals")
    return GalleryFactory(
        name="Zanzibar Secret Archive", slug="zanzibar", organisation=rivals, owner=cast.outsider
    )


@pytest.fixture
def images(cast, other_gallery):  # type: ignore[no-untyped-def]
    return {
        "mine": upload(cast.gallery, png_bytes((1, 2, 3)), name="mine-kestrel.png"),
        "theirs": upload(other_gallery, png_bytes((4, 5, 6)), name="theirs-osprey.png"),
    }


def signed_in(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def test_superuser_sees_every_gallery(cast, other_gallery):
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    content = signed_in(root).get(GALLERY_LIST).content.decode()
    assert cast.gallery.name in content
    assert other_gallery.name in content


def test_staff_sees_only_galleries_they_own(cast, staff, other_gallery):
    response = signed_in(staff).get(GALLERY_LIST)
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [cast.gallery]
    content = response.content.decode()
    assert other_gallery.name not in content
    # The organisation filter offers the user's galleries' organisations, not every one.
    assert cast.organisation.name in content
    assert "Rival Holdings Ltd" not in content


def test_staff_who_only_edits_a_gallery_does_not_see_it(cast):
    cast.editor.is_staff = True
    cast.editor.save(update_fields=["is_staff"])
    response = signed_in(cast.editor).get(GALLERY_LIST)
    assert list(response.context["cl"].result_list) == []


def test_staff_opening_another_galleries_page_is_sent_back_to_the_admin_index(staff, other_gallery):  # type: ignore[no-untyped-def]
    url = reverse("admin:galleries_gallery_change", args=[other_gallery.pk])
    response = signed_in(staff).get(url)
    # Django treats an object outside get_queryset() as missing: redirect with a warning.
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")
    [message] = get_messages(response.wsgi_request)
    assert str(other_gallery.pk) in str(message) and "exist" in str(message)


def test_staff_cannot_delete_another_gallery(staff, other_gallery):
    url = reverse("admin:galleries_gallery_delete", args=[other_gallery.pk])
    response = signed_in(staff).post(url, {"post": "yes"})
    assert response.status_code == 302
    assert Gallery.objects.filter(pk=other_gallery.pk).exists()


def test_staff_can_open_their_own_gallery(cast, staff):
    url = reverse("admin:galleries_gallery_change", args=[cast.gallery.pk])
    response = signed_in(staff).get(url)
    assert response.status_code == 200
    assert response.context["original"] == cast.gallery


def test_image_changelist_is_limited_to_owned_galleries(staff, images, other_gallery):
    response = signed_in(staff).get(IMAGE_LIST)
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [images["mine"]]
    content = response.content.decode()
    assert "theirs-osprey.png" not in content
    # Not even the filter sidebar may name a gallery the user cannot manage.
    assert other_gallery.name not in content


def test_membership_changelist_is_limited_to_owned_galleries(cast, staff, other_gallery):
    response = signed_in(staff).get(MEMBERSHIP_LIST)
    assert response.status_code == 200
    shown = {(m.gallery_id, m.user.username) for m in response.context["cl"].result_list}
    assert shown == {(cast.gallery.pk, u) for u in ("owner", "editor", "viewer")}
    assert other_gallery.name not in response.content.decode()


def test_staff_opening_another_galleries_image_is_sent_back_to_the_admin_index(staff, images):
    url = reverse("admin:galleries_image_change", args=[images["theirs"].pk])
    response = signed_in(staff).get(url)
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")


def test_image_changelist_renders_thumbnails(staff, images, client_for):
    client = signed_in(staff)
    content = client.get(IMAGE_LIST).content.decode()
    thumbnail = reverse("api:image-thumbnail", args=[images["mine"].pk])
    assert f'<img src="{thumbnail}"' in content
    served = client.get(thumbnail)
    assert (served.status_code, served["Content-Type"]) == (200, "image/jpeg")


def test_reembed_action_drops_the_embedding_and_queues_the_image(
    staff, images, broker, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    image = images["mine"]
    images_embed(image_ids=[image.pk])
    image.refresh_from_db()
    assert image.status == Image.Status.READY
    model = active_model_name()
    assert Embedding.objects.filter(image=image, model_name=model).exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in(staff).post(
            IMAGE_LIST, {"action": "reembed", helpers.ACTION_CHECKBOX_NAME: [image.pk]}
        )

    assert response.status_code == 302
    image.refresh_from_db()
    assert image.status == Image.Status.PENDING
    assert not Embedding.objects.filter(image=image, model_name=model).exists()
    [raw] = broker.lrange(django_settings.CBIR_EMBED_QUEUE, 0, -1)
    message = json.loads(raw)
    assert message["headers"]["task"] == "indexing.tasks.embed_images"
    assert message["headers"]["argsrepr"] == repr(([image.pk],))


def test_reembed_action_cannot_reach_another_galleries_image(
    staff, images, broker, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    theirs = images["theirs"]
    images_embed(image_ids=[theirs.pk])
    with django_capture_on_commit_callbacks(execute=True):
        signed_in(staff).post(
            IMAGE_LIST, {"action": "reembed", helpers.ACTION_CHECKBOX_NAME: [theirs.pk]}
        )
    theirs.refresh_from_db()
    assert theirs.status == Image.Status.READY
    assert Embedding.objects.filter(image=theirs).exists()
    assert all(broker.llen(queue) == 0 for queue in django_settings.CBIR_WORKER_QUEUES)


@pytest.mark.parametrize("path", ["admin:index", "admin:galleries_gallery_changelist"])
def test_non_staff_user_is_sent_to_the_admin_login(cast, path):
    url = reverse(path)
    response = signed_in(cast.owner).get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert response["Location"].endswith(f"?next={url}")


def _inline_post(gallery: Gallery, rows: list[dict]) -> dict:  # type: ignore[type-arg]
    data = {
        "name": gallery.name,
        "slug": gallery.slug,
        "description": gallery.description,
        "visibility": gallery.visibility,
        "organisation": gallery.organisation_id or "",
        "memberships-TOTAL_FORMS": str(len(rows)),
        "memberships-INITIAL_FORMS": str(sum(1 for r in rows if r.get("id"))),
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        for key, value in row.items():
            data[f"memberships-{i}-{key}"] = value
    return data


def test_admin_refuses_to_remove_the_last_owner(cast, staff):
    owner_row = cast.gallery.memberships.get(user=cast.owner)
    rows = [
        {
            "id": owner_row.pk,
            "gallery": cast.gallery.pk,
            "user": cast.owner.username,
            "role": "owner",
            "DELETE": "on",
        },
    ]
    response = signed_in(staff).post(
        reverse("admin:galleries_gallery_change", args=[cast.gallery.pk]),
        _inline_post(cast.gallery, rows),
    )
    assert response.status_code == 200  # the form comes back with the error
    assert b"A gallery needs at least one owner." in response.content
    assert cast.gallery.memberships.filter(role="owner").exists()


def test_a_gallery_created_in_the_admin_is_owned_by_its_creator(staff):
    new = Gallery(name="Field notes", slug="field-notes", visibility="private")
    response = signed_in(staff).post(reverse("admin:galleries_gallery_add"), _inline_post(new, []))
    assert response.status_code == 302, response.content[:2000]
    created = Gallery.objects.get(name="Field notes")  # slug: field-notes-<random suffix>
    assert created.created_by == staff
    assert created.memberships.get().user == staff
    assert created.memberships.get().role == "owner"


def test_owner_adds_a_member_through_the_inline(cast, staff):
    rows = [
        {"id": m.pk, "gallery": cast.gallery.pk, "user": m.user.username, "role": m.role}
        for m in cast.gallery.memberships.all()
    ]
    rows.append({"gallery": cast.gallery.pk, "user": cast.org_member.username, "role": "viewer"})
    response = signed_in(staff).post(
        reverse("admin:galleries_gallery_change", args=[cast.gallery.pk]),
        _inline_post(cast.gallery, rows),
    )
    assert response.status_code == 302
    assert cast.gallery.memberships.get(user=cast.org_member).role == "viewer"


def test_gallery_page_shows_its_statistic_and_threshold_overrides(cast, staff, settings):
    from indexing.embedding import images_embed
    from search.statistics import gallery_statistics_update

    settings.CBIR_THRESHOLD_MIN_IMAGES = 3
    page = reverse("admin:galleries_gallery_change", args=[cast.gallery.pk])
    assert b"No statistic yet" in signed_in(staff).get(page).content
    images = [upload(cast.gallery, png_bytes((10 * i, 0, 0)), name=f"{i}.png") for i in range(4)]
    images_embed(image_ids=[i.pk for i in images])
    gallery_statistics_update(gallery_id=cast.gallery.pk, model_name=active_model_name())
    content = signed_in(staff).get(page).content.decode()
    assert "m_g = " in content and "over 4 images" in content and "T_g image = " in content
    assert 'name="threshold_static_image"' in content and 'name="threshold_weight"' in content


def test_changing_overrides_in_the_admin_refreshes_the_stored_thresholds(cast, staff, settings):
    from indexing.embedding import images_embed
    from search.models import GalleryStatistics
    from search.statistics import gallery_statistics_update

    settings.CBIR_THRESHOLD_MIN_IMAGES = 3
    settings.CBIR_THRESHOLD_NEIGHBOURS = 2
    images = [upload(cast.gallery, png_bytes((10 * i, 0, 0)), name=f"{i}.png") for i in range(4)]
    images_embed(image_ids=[i.pk for i in images])
    model = active_model_name()
    gallery_statistics_update(gallery_id=cast.gallery.pk, model_name=model)
    before = GalleryStatistics.objects.get(gallery=cast.gallery)
    page = reverse("admin:galleries_gallery_change", args=[cast.gallery.pk])
    rows = [
        {"id": m.pk, "gallery": cast.gallery.pk, "user": m.user.username, "role": m.role}
        for m in cast.gallery.memberships.all()
    ]
    form = _inline_post(cast.gallery, rows)
    form.update({"threshold_static_image": "1.5", "threshold_weight": "0"})
    response = signed_in(staff).post(page, form)
    assert response.status_code == 302
    after = GalleryStatistics.objects.get(gallery=cast.gallery)
    assert after.threshold_image == pytest.approx(1.5)  # T_static + 0 * (m_g - M)
    assert after.thresholds_at > before.thresholds_at
    form.update({"threshold_neighbours": "3"})
    followed = signed_in(staff).post(page, form, follow=True)
    assert "being recomputed" in followed.content.decode()
