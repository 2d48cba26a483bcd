"""Search history: identical queries once, thumbnails, removing an entry (page and API)."""

from __future__ import annotations

import pytest
from django.test import Client

from feedback.history import history_of
from feedback.models import Judgement, SearchSession
from feedback.services import judgement_record, search_session_start
from indexing.embedding import images_embed
from search.request import SearchRequest
from tests.factories import png_bytes, upload

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def red(cast):  # type: ignore[no-untyped-def]
    image = upload(cast.gallery, png_bytes((250, 0, 0)), name="red.png")
    images_embed(image_ids=[image.pk])
    return image


def test_identical_queries_are_one_entry_with_a_count(cast, red):
    for text in ("red", "  Red ", "red"):
        search_session_start(user=cast.viewer, request=SearchRequest(text=text, mode="topk", k=5))
    search_session_start(user=cast.viewer, request=SearchRequest(text="blue", mode="topk", k=5))
    search_session_start(
        user=cast.viewer, request=SearchRequest(text="red", mode="auto", k=5)
    )  # another mode
    history = list(history_of(cast.viewer))
    assert [(s.query_text.strip().lower(), s.mode, s.times) for s in history] == [
        ("red", "auto", 1),
        ("blue", "topk", 1),
        ("red", "topk", 3),
    ]


def test_uploads_of_the_same_bytes_are_one_entry_other_bytes_are_not(cast, red):
    for data in (png_bytes((250, 0, 0)), png_bytes((250, 0, 0)), png_bytes((0, 0, 250))):
        search_session_start(
            user=cast.viewer, request=SearchRequest(image_data=data, mode="topk", k=5)
        )
    assert sorted(s.times for s in history_of(cast.viewer)) == [1, 2]


def test_history_page_shows_thumbnails_of_visible_results_and_each_query_once(cast, red):
    client = signed_in(cast.viewer)
    for _ in range(2):
        client.post("/search/", {"q": "red", "mode": "topk"})
    page = client.get("/search/sessions/").content.decode()
    assert page.count('data-testid="history-row"') == 1
    assert f"/api/v1/images/{red.pk}/thumbnail/" in page and "2 times" in page
    # An image the user may no longer see is not shown.
    cast.gallery.memberships.filter(user=cast.viewer).delete()
    page = client.get("/search/sessions/").content.decode()
    assert f"/api/v1/images/{red.pk}/thumbnail/" not in page


def test_removing_an_entry_removes_every_run_and_its_marks(cast, red):
    client = signed_in(cast.viewer)
    sessions = [
        search_session_start(user=cast.viewer, request=SearchRequest(text="red", mode="topk", k=5))[
            0
        ]
        for _ in range(2)
    ]
    judgement_record(session=sessions[0], user=cast.viewer, image_id=red.pk, label="relevant")
    keep, _, _ = search_session_start(
        user=cast.viewer, request=SearchRequest(text="blue", mode="topk", k=5)
    )
    response = client.post(f"/search/sessions/{sessions[1].pk}/delete/", follow=True)
    assert b"Removed \xe2\x80\x9cred\xe2\x80\x9d from your history (2 searches)" in response.content
    assert list(SearchSession.objects.filter(user=cast.viewer)) == [keep]
    assert not Judgement.objects.exists()


def test_nobody_removes_someone_elses_history(cast, red):
    session, _, _ = search_session_start(
        user=cast.viewer, request=SearchRequest(text="red", mode="topk", k=5)
    )
    assert signed_in(cast.owner).post(f"/search/sessions/{session.pk}/delete/").status_code == 404
    api = signed_in(cast.owner).delete(f"/api/v1/search/sessions/{session.pk}/")
    assert api.status_code == 404
    anonymous = Client().post(f"/search/sessions/{session.pk}/delete/")
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    assert SearchSession.objects.filter(pk=session.pk).exists()


def test_api_deletes_one_session_or_all_its_repeats_and_lists_distinct(cast, red):
    client = signed_in(cast.viewer)
    first, second, third = (
        search_session_start(user=cast.viewer, request=SearchRequest(text="red", mode="topk", k=5))[
            0
        ]
        for _ in range(3)
    )
    listed = client.get("/api/v1/search/sessions/", {"distinct": "true"}).json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [(r["id"], r["times"]) for r in rows] == [(str(third.pk), 3)]
    assert client.delete(f"/api/v1/search/sessions/{third.pk}/").status_code == 204
    assert SearchSession.objects.filter(user=cast.viewer).count() == 2
    response = client.delete(f"/api/v1/search/sessions/{first.pk}/?repeats=true")
    assert response.status_code == 204
    assert not SearchSession.objects.filter(user=cast.viewer).exists()
    assert second.pk  # deleted with its repeat


@pytest.mark.parametrize(("value", "rows"), [("yes", 1), ("TRUE", 1), ("1", 1), ("no", 2), ("", 2)])
def test_api_session_list_distinct_takes_yes_in_any_spelling(cast, red, value, rows):
    for _ in range(2):
        search_session_start(user=cast.viewer, request=SearchRequest(text="red", mode="topk", k=5))
    listed = signed_in(cast.viewer).get("/api/v1/search/sessions/", {"distinct": value}).json()
    assert listed["count"] == rows
