"""Who judged what is for superusers only: no admin page tells a gallery's manager.

The judge has a name found nowhere else on the pages (`judge-quokka`), so its
absence from a page's HTML means the page does not name the judge.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from feedback.models import Judgement, SearchSession
from feedback.services import judgement_record, search_session_start
from indexing.embedding import images_embed
from search.request import SearchRequest
from tests.factories import UserFactory, png_bytes, upload

pytestmark = pytest.mark.django_db

JUDGE = "judge-quokka"
JUDGEMENTS = reverse("admin:feedback_judgement_changelist")


@pytest.fixture
def judgement(cast) -> Judgement:  # type: ignore[no-untyped-def]
    # Sees the gallery through its organisation: a membership would (rightly) be listed
    # to the manager on the gallery's pages.
    judge = UserFactory(username=JUDGE)
    cast.organisation.organisationmembership_set.create(user=judge)
    cast.gallery.visibility = "organisation"
    cast.gallery.save(update_fields=["visibility"])
    image = upload(cast.gallery, png_bytes((250, 5, 5)), name="kestrel.png")
    images_embed(image_ids=[image.pk])
    session, _, _ = search_session_start(
        user=judge, request=SearchRequest(text="a red bird", mode="topk", k=5)
    )
    row, _ = judgement_record(session=session, user=judge, image_id=image.pk, label="relevant")
    assert row is not None
    return row


@pytest.fixture
def manager(cast) -> Client:  # type: ignore[no-untyped-def]
    """The gallery's owner, staff but not a superuser."""
    cast.owner.is_staff = True
    cast.owner.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(cast.owner)
    return client


@pytest.fixture
def root() -> Client:
    client = Client()
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def _pages(judgement: Judgement) -> list[str]:
    image = judgement.image
    return [
        reverse("admin:index"),
        JUDGEMENTS,
        f"{JUDGEMENTS}?image__id__exact={image.pk}",
        f"{JUDGEMENTS}?label__exact=relevant",
        f"{JUDGEMENTS}?created_at__year={judgement.created_at.year}",
        reverse("admin:feedback_judgement_change", args=[judgement.pk]),
        reverse("admin:feedback_judgement_history", args=[judgement.pk]),
        reverse("admin:galleries_image_change", args=[image.pk]),
        reverse("admin:galleries_image_delete", args=[image.pk]),
        reverse("admin:galleries_gallery_delete", args=[image.gallery_id]),
        reverse("admin:feedback_expansion_changelist"),
    ]


def test_no_admin_page_names_the_judge_to_a_manager(judgement, manager):
    for url in _pages(judgement):
        response = manager.get(url)
        assert response.status_code == 200, url
        assert JUDGE not in response.content.decode(), url


def test_the_judgement_page_shows_what_was_judged(judgement, manager):
    page = manager.get(reverse("admin:feedback_judgement_change", args=[judgement.pk]))
    content = page.content.decode()
    assert f"judgement {judgement.pk}: image {judgement.image_id} relevant" in content
    assert "a red bird" in content and "kestrel.png" in content


def test_the_delete_confirmation_of_an_image_lists_its_judgements_without_the_judge(
    judgement, manager
):
    page = manager.get(reverse("admin:galleries_image_delete", args=[judgement.image_id]))
    content = page.content.decode()
    assert JUDGE not in content
    assert f"judgement {judgement.pk}: image {judgement.image_id} relevant" in content


@pytest.mark.parametrize("lookup", ["user", "user__id__exact", "user__gt", "session", "iteration"])
def test_a_manager_cannot_filter_judgements_by_judge_in_the_url(judgement, manager, lookup):
    value = {"session": judgement.session_id, "iteration": judgement.iteration_id}.get(
        lookup, judgement.user_id
    )
    known = manager.get(f"{JUDGEMENTS}?{lookup}={value}")
    assert known.status_code == 400  # refused whatever the value: no row count to read
    assert JUDGE not in known.content.decode()
    if lookup.startswith("user"):
        assert manager.get(f"{JUDGEMENTS}?{lookup}=987654").status_code == 400


def test_searching_the_judges_name_finds_nothing_for_a_manager(judgement, manager):
    response = manager.get(JUDGEMENTS, {"q": JUDGE})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 0
    assert "kestrel.png" not in response.content.decode()


def test_a_superuser_sees_who_judged(judgement, root):
    assert JUDGE in root.get(JUDGEMENTS).content.decode()
    change = root.get(reverse("admin:feedback_judgement_change", args=[judgement.pk]))
    assert JUDGE in change.content.decode()
    filtered = root.get(f"{JUDGEMENTS}?user__id__exact={judgement.user_id}")
    assert filtered.status_code == 200 and filtered.context["cl"].result_count == 1
    assert root.get(f"{JUDGEMENTS}?user={judgement.user_id}").status_code == 200
    searched = root.get(JUDGEMENTS, {"q": JUDGE})
    assert searched.context["cl"].result_count == 1
    sessions = root.get(reverse("admin:feedback_searchsession_changelist")).content.decode()
    assert JUDGE in sessions  # the session list's user column


def test_the_texts_of_a_judgement_and_a_session_never_name_the_user(judgement):
    session = SearchSession.objects.get(pk=judgement.session_id)
    assert JUDGE not in str(judgement) and JUDGE not in str(session)
    assert str(judgement) == f"judgement {judgement.pk}: image {judgement.image_id} relevant"
    assert "a red bird" in str(session)


def test_a_manager_can_delete_an_image_with_feedback_but_not_a_judgement(judgement, manager):
    image_id = judgement.image_id
    own = manager.post(
        reverse("admin:feedback_judgement_delete", args=[judgement.pk]), {"post": "yes"}
    )
    assert own.status_code == 403
    assert Judgement.objects.filter(pk=judgement.pk).exists()
    assert "delete_selected" not in manager.get(JUDGEMENTS).content.decode()

    gone = manager.post(reverse("admin:galleries_image_delete", args=[image_id]), {"post": "yes"})
    assert gone.status_code == 302
    assert not Judgement.objects.filter(pk=judgement.pk).exists()
    assert not judgement.image.__class__.objects.filter(pk=image_id).exists()
