"""The expansion and judgement admin: every change goes through the expansion service."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from feedback import tasks
from feedback.models import Expansion
from feedback.services import judgement_record, search_session_start
from indexing.embedding import images_embed
from indexing.models import IndexEvent
from search.request import SearchRequest
from tests.factories import UserFactory, png_bytes, upload

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def rules(settings):
    settings.CBIR_EXPANSION = True
    settings.CBIR_EXPANSION_MIN_SUPPORT = 2.0
    settings.CBIR_EXPANSION_MIN_SUPPORTERS = 2
    settings.CBIR_HOT_REFINEMENT = False


@pytest.fixture
def staff(cast):  # type: ignore[no-untyped-def]
    cast.owner.is_staff = True
    cast.owner.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(cast.owner)
    return client


@pytest.fixture
def blue(cast):  # type: ignore[no-untyped-def]
    images = [
        upload(cast.gallery, png_bytes(rgb), name=f"{n}.png")
        for n, rgb in (("red", (250, 5, 5)), ("blue", (5, 5, 250)))
    ]
    images_embed(image_ids=[i.pk for i in images])
    return images[1]


def confirmed(cast, image, text="red"):  # type: ignore[no-untyped-def]
    """Two users mark the image relevant for `text`; the tally admits it."""
    for user in (cast.viewer, cast.editor):
        session, _, _ = search_session_start(
            user=user, request=SearchRequest(text=text, mode="topk", k=5)
        )
        judgement_record(session=session, user=user, image_id=image.pk, label="relevant")
    tasks.update_expansions.run([image.pk])
    row = Expansion.objects.get(image=image, source="query")
    assert row.status == "admitted" and row.vector is not None
    return row


def change(pk: int) -> str:
    return reverse("admin:feedback_expansion_change", args=[pk])


def test_approving_in_the_change_form_computes_the_vector_and_tells_the_indexes(cast, staff, blue):
    row = confirmed(cast, blue)
    staff.post(change(row.pk), {"status": "removed"})
    row.refresh_from_db()
    assert row.status == "removed" and row.vector is None
    events = IndexEvent.objects.filter(image_id=blue.pk).count()
    staff.post(change(row.pk), {"status": "approved"})
    row.refresh_from_db()
    assert row.status == "approved" and row.vector is not None
    assert IndexEvent.objects.filter(image_id=blue.pk).count() == events + 1


def test_deleting_a_confirmed_query_removes_it_for_good(cast, staff, blue):
    row = confirmed(cast, blue)
    response = staff.post(
        reverse("admin:feedback_expansion_delete", args=[row.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    row.refresh_from_db()  # still there: a deleted row would come back with the next tally
    assert row.status == "removed" and row.vector is None
    tasks.update_expansions.run([blue.pk])
    row.refresh_from_db()
    assert row.status == "removed"


def test_readmitting_hands_the_query_back_to_the_rules_at_once(cast, staff, blue):
    row = confirmed(cast, blue)
    staff.post(change(row.pk), {"status": "removed"})
    staff.post(
        reverse("admin:feedback_expansion_changelist"),
        {"action": "readmit", "_selected_action": [row.pk]},
    )
    row.refresh_from_db()
    assert row.status == "admitted" and row.vector is not None  # two supporters still


def test_a_caption_cannot_be_readmitted_by_support(cast, staff, blue):
    page = reverse("admin:galleries_image_change", args=[blue.pk])
    staff.post(page, _image_form(blue, captions=["a blue square"]))
    caption = Expansion.objects.get(image=blue, source="caption")
    response = staff.post(
        reverse("admin:feedback_expansion_changelist"),
        {"action": "readmit", "_selected_action": [caption.pk]},
        follow=True,
    )
    assert "not admitted by support" in response.content.decode()
    caption.refresh_from_db()
    assert caption.status == "approved"


def test_a_manager_adds_edits_and_deletes_captions_on_the_image_page(cast, staff, blue):
    page = reverse("admin:galleries_image_change", args=[blue.pk])
    shown = staff.get(page).content.decode().lower()
    assert "captions (shown to everyone" in shown
    assert "judgement history" in shown and "re-embed" in shown  # feedback's and search's parts
    response = staff.post(page, _image_form(blue, captions=["a blue square"]))
    assert response.status_code == 302
    caption = Expansion.objects.get(image=blue, source="caption")
    assert caption.status == "approved" and caption.vector is not None
    assert caption.created_by == cast.owner
    listed = cast.viewer  # what everybody who may see the image sees, through the API
    client = Client()
    client.force_login(listed)
    texts = [c["text"] for c in client.get(f"/api/v1/images/{blue.pk}/captions/").json()]
    assert texts == ["a blue square"]
    staff.post(page, _image_form(blue, existing=[(caption.pk, "a navy square")]))
    current = Expansion.objects.filter(image=blue, source="caption").exclude(status="removed")
    assert [c.text for c in current] == ["a navy square"]
    edited = current.get()
    staff.post(page, _image_form(blue, existing=[(edited.pk, edited.text)], delete=True))
    assert not Expansion.objects.filter(image=blue, source="caption").exists()


def test_another_galleries_manager_cannot_reach_the_expansion(cast, blue):
    row = confirmed(cast, blue)
    rival = UserFactory(username="rival", is_staff=True)
    client = Client()
    client.force_login(rival)
    client.post(change(row.pk), {"status": "removed"})
    row.refresh_from_db()
    assert row.status == "admitted"


def test_managers_see_the_feedback_history_without_who_gave_it(cast, staff, blue):
    confirmed(cast, blue)
    history = reverse("admin:feedback_judgement_changelist") + f"?image__id__exact={blue.pk}"
    page = staff.get(history).content.decode()
    assert "blue.png" in page and "red" in page
    assert "viewer" not in page and "editor" not in page
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(root)
    assert "viewer" in client.get(history).content.decode()


def _image_form(image, captions=(), existing=(), delete=False):  # type: ignore[no-untyped-def]
    rows = [(pk, text) for pk, text in existing] + [(None, text) for text in captions]
    data = {
        "original_filename": image.original_filename,
        "expansions-TOTAL_FORMS": str(len(rows)),
        "expansions-INITIAL_FORMS": str(len(existing)),
        "expansions-MIN_NUM_FORMS": "0",
        "expansions-MAX_NUM_FORMS": "1000",
        "expansions-2-TOTAL_FORMS": "0",
        "expansions-2-INITIAL_FORMS": "0",
        "expansions-2-MIN_NUM_FORMS": "0",
        "expansions-2-MAX_NUM_FORMS": "1000",
    }
    for i, (pk, text) in enumerate(rows):
        data[f"expansions-{i}-id"] = pk or ""
        data[f"expansions-{i}-image"] = image.pk
        data[f"expansions-{i}-text"] = text
        if delete and pk:
            data[f"expansions-{i}-DELETE"] = "on"
    return data
