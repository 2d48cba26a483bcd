"""Admin: galleries with judged images can be deleted (the judgements go with them),
Re-embed on the image's own page, judgements newest first with thumbnails.

Judgement.image cascades: the log about images that no longer exist has no use, and
keeping it would keep who-judged-what about deleted photos. The gallery API's delete
does the same; the admin pages must not refuse it.
"""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from feedback.models import Judgement, SearchSession
from feedback.services import judgement_record, search_session_start
from galleries.models import Gallery, Image
from indexing.embedding import images_embed
from indexing.models import Embedding
from indexing.runtime import active_model_name
from search.request import SearchRequest
from tests.factories import UserFactory, png_bytes, upload

pytestmark = pytest.mark.django_db
JUDGE = "judge-quokka"


def signed_in(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def judged(cast) -> list[Image]:  # type: ignore[no-untyped-def]
    """Two images of the gallery, judged by two users in their own sessions."""
    judge = UserFactory(username=JUDGE)
    cast.organisation.organisationmembership_set.create(user=judge)
    cast.gallery.visibility = "organisation"
    cast.gallery.save(update_fields=["visibility"])
    images = [
        upload(cast.gallery, png_bytes(rgb), name=f"{n}.png")
        for n, rgb in (("red", (250, 5, 5)), ("rose", (240, 20, 20)))
    ]
    images_embed(image_ids=[i.pk for i in images])
    for user, image, label in (
        (judge, images[0], "relevant"),
        (cast.viewer, images[1], "not_relevant"),
    ):
        session, _, _ = search_session_start(
            user=user, request=SearchRequest(text="red", mode="topk", k=5)
        )
        judgement_record(session=session, user=user, image_id=image.pk, label=label)
    return images


@pytest.fixture
def root(db) -> Client:  # type: ignore[no-untyped-def]
    return signed_in(UserFactory(username="root", is_staff=True, is_superuser=True))


@pytest.fixture
def manager(cast) -> Client:  # type: ignore[no-untyped-def]
    cast.owner.is_staff = True
    cast.owner.save(update_fields=["is_staff"])
    return signed_in(cast.owner)


@pytest.mark.parametrize("who", ["root", "manager"])
def test_a_gallery_with_judged_images_is_deleted_with_its_judgements(cast, judged, who, request):
    client = request.getfixturevalue(who)
    url = reverse("admin:galleries_gallery_delete", args=[cast.gallery.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert b"permission to delete" not in page.content
    assert b"Judgements: 2" in page.content  # the page says what goes with the gallery
    assert JUDGE.encode() not in page.content  # rows are listed without who judged
    assert client.post(url, {"post": "yes"}).status_code == 302
    assert not Gallery.objects.filter(pk=cast.gallery.pk).exists()
    assert not Judgement.objects.exists()
    assert SearchSession.objects.count() == 2  # the users' own searches stay


def test_the_changelist_delete_action_works_too(cast, judged, root):
    changelist = reverse("admin:galleries_gallery_changelist")
    data = {"action": "delete_selected", "_selected_action": [cast.gallery.pk]}
    confirm = root.post(changelist, data)
    assert confirm.status_code == 200 and b"permission to delete" not in confirm.content
    root.post(changelist, {**data, "post": "yes"})
    assert not Gallery.objects.filter(pk=cast.gallery.pk).exists()


def test_reembed_from_the_image_page(
    cast, judged, manager, broker, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    image = judged[0]
    change = reverse("admin:galleries_image_change", args=[image.pk])
    page = manager.get(change)
    reembed = reverse("admin:galleries_image_reembed", args=[image.pk])
    assert reembed.encode() in page.content and b"Re-embed" in page.content
    assert manager.get(reembed).status_code == 405  # a change: POST only
    with django_capture_on_commit_callbacks(execute=True):
        response = manager.post(reembed, follow=True)
    assert response.redirect_chain[-1][0] == change
    assert b"1 image queued for embedding." in response.content
    image.refresh_from_db()
    assert image.status == Image.Status.PENDING
    assert not Embedding.objects.filter(image=image, model_name=active_model_name()).exists()
    assert broker.llen(django_settings.CBIR_EMBED_QUEUE) == 1


def test_reembed_of_another_galleries_image_is_not_found(cast, judged, broker):  # type: ignore[no-untyped-def]
    stranger = UserFactory(username="stranger", is_staff=True)
    response = signed_in(stranger).post(
        reverse("admin:galleries_image_reembed", args=[judged[0].pk])
    )
    assert response.status_code == 404
    judged[0].refresh_from_db()
    assert judged[0].status == Image.Status.READY


def test_judgements_are_listed_newest_first_with_thumbnails(cast, judged, manager):
    page = manager.get(reverse("admin:feedback_judgement_changelist")).content.decode()
    newest, oldest = Judgement.objects.order_by("-created_at", "-id")
    assert page.index(f"judgement/{newest.pk}/change/") < page.index(
        f"judgement/{oldest.pk}/change/"
    )
    for row in (newest, oldest):
        assert f"/api/v1/images/{row.image_id}/thumbnail/" in page
