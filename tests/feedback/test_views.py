"""The session pages: owner only, refine errors explained, anonymous searches stay inline."""

from __future__ import annotations

import pytest
from django.test import Client

from feedback.models import SearchSession
from indexing.embedding import images_embed
from tests.factories import png_bytes, upload

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def session(cast):  # type: ignore[no-untyped-def]
    image = upload(cast.gallery, png_bytes((250, 0, 0)), name="red.png")
    images_embed(image_ids=[image.pk])
    response = signed_in(cast.viewer).post("/search/", {"q": "red", "mode": "topk"})
    assert response.status_code == 302
    return SearchSession.objects.get(user=cast.viewer)


def test_a_signed_in_search_redirects_to_its_session_page(cast, session):
    page = signed_in(cast.viewer).get(f"/search/sessions/{session.pk}/")
    assert page.status_code == 200 and b"red.png" in page.content
    assert b'data-judge-url="/api/v1/search/sessions/' in page.content


def test_someone_elses_session_page_is_not_found(cast, session):
    assert signed_in(cast.owner).get(f"/search/sessions/{session.pk}/").status_code == 404
    anonymous = Client().get(f"/search/sessions/{session.pk}/")
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]


def test_refining_without_marks_comes_back_with_the_reason(cast, session):
    client = signed_in(cast.viewer)
    data = {
        "source": "marks",
        "judged": "none",
        "pseudo_positives": 3,
        "alpha": 1,
        "beta": 0.75,
        "gamma": 0.15,
    }
    response = client.post(f"/search/sessions/{session.pk}/refine/", data, follow=True)
    assert b"Mark at least one result" in response.content
    assert session.iterations.count() == 1


def test_pseudo_refinement_from_the_page(cast, session):
    client = signed_in(cast.viewer)
    data = {
        "source": "pseudo",
        "judged": "none",
        "pseudo_positives": 1,
        "alpha": 1,
        "beta": 0.75,
        "gamma": 0.15,
    }
    response = client.post(f"/search/sessions/{session.pk}/refine/", data)
    assert response.status_code == 302 and response["Location"].endswith("?iteration=1")
    assert session.iterations.count() == 2


def test_history_lists_only_the_users_sessions(cast, session):
    assert str(session.pk).encode() in signed_in(cast.viewer).get("/search/sessions/").content
    assert str(session.pk).encode() not in signed_in(cast.editor).get("/search/sessions/").content


def test_anonymous_search_stays_on_the_page_without_a_session(cast):
    cast.gallery.visibility = "public"
    cast.gallery.save()
    image = upload(cast.gallery, png_bytes((250, 0, 0)), name="red.png")
    images_embed(image_ids=[image.pk])
    response = Client().post("/search/", {"q": "red", "mode": "topk"})
    assert response.status_code == 200 and b"red.png" in response.content
    assert not SearchSession.objects.exists()


def test_the_session_page_shows_the_cutoffs_and_keeps_the_weights(cast):
    from urllib.parse import parse_qs, urlparse

    image = upload(cast.gallery, png_bytes((250, 0, 0)), name="red.png")
    images_embed(image_ids=[image.pk])
    client = signed_in(cast.viewer)
    response = client.post(
        "/search/", {"q": "red", "not_q": "blue", "negative_weight": "0.8", "mode": "static"}
    )
    assert response.status_code == 302, response.content
    session = SearchSession.objects.get(user=cast.viewer)
    assert session.params["negative_weight"] == pytest.approx(0.8)
    page = client.get(f"/search/sessions/{session.pk}/").content.decode()
    assert 'data-testid="thresholds"' in page and "(static)" in page
    assert cast.gallery.slug in page
    edit = page.split('data-testid="edit-search"')[0].rsplit('href="', 1)[1].split('"')[0]
    query = parse_qs(urlparse(edit.replace("&amp;", "&")).query)
    assert query["negative_weight"] == ["0.8"] and query["not_q"] == ["blue"]


def test_a_gallery_too_small_for_a_statistic_is_labelled_not_passed_off_as_confident(cast):
    images = [upload(cast.gallery, png_bytes((250, 10 * i, 0)), name=f"s{i}.png") for i in range(3)]
    images_embed(image_ids=[i.pk for i in images])
    client = signed_in(cast.viewer)
    response = client.post("/search/", {"q": "red", "mode": "auto"})
    html = client.get(response["Location"]).content.decode()
    assert 'data-testid="not-checked"' in html and "too small for the statistic" in html
    assert html.count('data-unchecked="true"') == 3
    assert "Only confident matches" in html  # what was asked, next to why it could not be

    topk = client.post("/search/", {"q": "red", "mode": "topk"})
    plain = client.get(topk["Location"]).content.decode()
    assert 'data-testid="not-checked"' not in plain and 'data-unchecked="true"' not in plain


def test_session_page_shows_a_match_out_of_100_and_keeps_the_raw_score_in_details(cast, session):
    html = signed_in(cast.viewer).get(f"/search/sessions/{session.pk}/").content.decode()
    assert '100<span class="unit">/100</span>' in html
    assert "Details" in html and "cosine similarity" in html
    assert "Rocchio" not in html.split("<details")[0]  # jargon only inside disclosures


def test_edit_search_keeps_the_accepted_assistant_ideas(cast, session):
    client = signed_in(cast.viewer)
    ideas = "a crimson thing\na scarlet thing"
    response = client.post(
        "/search/", {"q": "red", "mode": "topk", "not_q": "blue", "rephrasings": ideas}
    )
    started = SearchSession.objects.get(pk=response["Location"].split("/")[-2])
    assert started.params["rephrasings"] == ["a crimson thing", "a scarlet thing"]
    page = client.get(response["Location"]).content.decode()
    edit = page.split('data-testid="edit-search"')[0].rsplit('href="', 1)[1].split('"')[0]
    form = client.get(edit.replace("&amp;", "&")).content.decode()
    assert 'name="rephrasings" value="a crimson thing\na scarlet thing"' in form
    assert 'name="not_q" value="blue"' in form
