"""Filter and sort search results by gallery, upload date, uploader and format.

Through the service, the search API, the search page (anonymous) and the session
page and iteration API (signed in); filters never reveal what the user may not see.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from cbir_site.errors import InvalidInputError
from feedback.models import SearchSession
from galleries.models import Gallery, Image
from indexing.embedding import images_embed
from search.request import SearchRequest
from search.services import search_images
from tests.factories import GalleryFactory, UserFactory, add_member, png_bytes, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def photos(cast):  # type: ignore[no-untyped-def]
    """Four reddish images in two galleries, by two uploaders, two formats, three dates."""
    other = GalleryFactory(slug="second", name="Second", owner=cast.owner)
    add_member(other, cast.viewer, "viewer")
    made = {
        "a.png": upload(cast.gallery, png_bytes((250, 0, 0)), name="a.png", user=cast.owner),
        "b.jpg": upload(
            cast.gallery, png_bytes((240, 10, 0), fmt="JPEG"), name="b.jpg", user=cast.editor
        ),
        "c.png": upload(other, png_bytes((230, 20, 0)), name="c.png", user=cast.editor),
        "d.jpg": upload(other, png_bytes((220, 30, 0), fmt="JPEG"), name="d.jpg", user=cast.owner),
    }
    when = {"a.png": 30, "b.jpg": 10, "c.png": 20, "d.jpg": 1}
    now = timezone.now()
    for name, days in when.items():
        Image.objects.filter(pk=made[name].pk).update(created_at=now - dt.timedelta(days=days))
    images_embed(image_ids=[i.pk for i in made.values()])
    return {name: image.pk for name, image in made.items()}


def names(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [h.image.original_filename for h in result.hits]


def test_filters_narrow_the_ranking_and_keep_its_order(cast, photos):
    everything = search_images(
        user=cast.viewer, request=SearchRequest(text="red", mode="topk", k=10)
    )
    assert len(everything.hits) == 4
    order = names(everything)
    jpegs = search_images(
        user=cast.viewer,
        request=SearchRequest(text="red", mode="topk", k=10, filters={"file_format": ["JPEG"]}),
    )
    assert names(jpegs) == [n for n in order if n.endswith(".jpg")]
    assert jpegs.total == 2 and [h.rank for h in jpegs.hits] == [1, 2]
    by_editor = search_images(
        user=cast.viewer,
        request=SearchRequest(text="red", mode="topk", k=10, filters={"uploader": "EDITOR"}),
    )
    assert sorted(names(by_editor)) == ["b.jpg", "c.png"]
    # The whole ranking stays with the result (a session stores it): filters are a view.
    assert len(jpegs.ranked) == 4


def test_date_range_and_gallery_filters(cast, photos):
    since = (timezone.now() - dt.timedelta(days=15)).date().isoformat()
    recent = search_images(
        user=cast.viewer,
        request=SearchRequest(text="red", mode="topk", k=10, filters={"uploaded_after": since}),
    )
    assert sorted(names(recent)) == ["b.jpg", "d.jpg"]
    until = (timezone.now() - dt.timedelta(days=15)).date().isoformat()
    old = search_images(
        user=cast.viewer,
        request=SearchRequest(text="red", mode="topk", k=10, filters={"uploaded_before": until}),
    )
    assert sorted(names(old)) == ["a.png", "c.png"]
    second = search_images(
        user=cast.viewer,
        request=SearchRequest(text="red", mode="topk", k=10, filters={"gallery": ["second"]}),
    )
    assert sorted(names(second)) == ["c.png", "d.jpg"]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("-uploaded", ["d.jpg", "b.jpg", "c.png", "a.png"]),
        ("uploaded", ["a.png", "c.png", "b.jpg", "d.jpg"]),
        ("name", ["a.png", "b.jpg", "c.png", "d.jpg"]),
        ("-name", ["d.jpg", "c.png", "b.jpg", "a.png"]),
    ],
)
def test_sorting_by_date_and_name(cast, photos, sort, expected):
    result = search_images(
        user=cast.viewer,
        request=SearchRequest(text="red", mode="topk", k=10, filters={"sort": sort}),
    )
    assert names(result) == expected


def test_bad_filter_values_are_refused_with_their_names(cast, photos):
    with pytest.raises(InvalidInputError) as caught:
        search_images(
            user=cast.viewer,
            request=SearchRequest(
                text="red",
                mode="topk",
                filters={"file_format": ["EXE"], "uploaded_after": "yesterday", "sort": "size"},
            ),
        )
    message = caught.value.message
    assert "file_format" in message and "uploaded_after" in message and "sort" in message


def test_a_gallery_the_user_cannot_see_is_answered_like_one_that_does_not_exist(cast, photos):
    hidden = GalleryFactory(slug="hidden", name="Hidden", owner=UserFactory(username="stranger"))
    upload(hidden, png_bytes((250, 0, 0)), name="secret.png")
    answers = []
    for slug in ("hidden", "no-such-gallery"):
        with pytest.raises(InvalidInputError) as caught:
            search_images(
                user=cast.viewer,
                request=SearchRequest(text="red", mode="topk", filters={"gallery": [slug]}),
            )
        answers.append(caught.value.message.replace(slug, "X"))
    assert answers[0] == answers[1]


def test_filters_never_add_invisible_images(cast, photos):
    stranger = UserFactory(username="stranger")
    hidden = GalleryFactory(slug="hidden", name="Hidden", owner=stranger)
    secret = upload(hidden, png_bytes((250, 0, 0)), name="secret.png", user=cast.editor)
    images_embed(image_ids=[secret.pk])
    result = search_images(
        user=cast.viewer,
        request=SearchRequest(text="red", mode="topk", k=10, filters={"uploader": "editor"}),
    )
    assert "secret.png" not in names(result)


def test_search_api_takes_filters_and_sort(cast, photos):
    client = Client()
    client.force_login(cast.viewer)
    response = client.post(
        "/api/v1/search/",
        {"text": "red", "mode": "topk", "k": 10, "file_format": ["PNG"], "sort": "name"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert [r["image"]["original_filename"] for r in body["results"]] == ["a.png", "c.png"]
    assert body["total"] == 2
    bad = client.post(
        "/api/v1/search/",
        {"text": "red", "file_format": ["EXE"]},
        content_type="application/json",
    )
    assert bad.status_code == 400 and "file_format" in bad.json()["detail"]


def test_search_api_takes_a_date_range(cast, photos):
    """The serializer hands the dates over as dates (a fuzzed request once got a 500)."""
    client = Client()
    client.force_login(cast.viewer)
    since = (timezone.now() - dt.timedelta(days=15)).date().isoformat()
    for field, expected in (("uploaded_after", ["b.jpg", "d.jpg"]), ("uploaded_before", None)):
        response = client.post(
            "/api/v1/search/",
            {"text": "red", "mode": "topk", "k": 10, field: since},
            content_type="application/json",
        )
        assert response.status_code == 200, response.content
        found = sorted(r["image"]["original_filename"] for r in response.json()["results"])
        assert found == (expected or ["a.png", "c.png"])


def test_iteration_api_filters_the_stored_ranking(cast, photos):
    client = Client()
    client.force_login(cast.viewer)
    body = client.post(
        "/api/v1/search/", {"text": "red", "mode": "topk", "k": 10}, content_type="application/json"
    ).json()
    url = f"/api/v1/search/sessions/{body['session']}/iterations/0/"
    assert client.get(url).json()["count"] == 4
    narrowed = client.get(url, {"gallery": "second", "sort": "-uploaded"}).json()
    assert [r["image"]["original_filename"] for r in narrowed["results"]] == ["d.jpg", "c.png"]
    assert narrowed["count"] == 2
    assert client.get(url, {"gallery": "nope"}).status_code == 400


def test_signed_in_search_page_carries_filters_to_the_session_page(cast, photos):
    client = Client()
    client.force_login(cast.viewer)
    response = client.post(
        "/search/", {"q": "red", "mode": "topk", "k": 10, "file_format": "JPEG", "sort": "name"}
    )
    assert response.status_code == 302
    assert "file_format=JPEG" in response["Location"] and "sort=name" in response["Location"]
    page = client.get(response["Location"])
    content = page.content.decode()
    assert content.index("b.jpg") < content.index("d.jpg")
    assert "a.png" not in content and "c.png" not in content
    assert 'data-testid="filter-count"' in content and "2 of 4 results match" in content
    session = SearchSession.objects.get(user=cast.viewer)
    assert len(session.iterations.get(number=0).results) == 4  # stored whole


def test_session_page_says_when_no_result_matches_the_filters(cast, photos):
    client = Client()
    client.force_login(cast.viewer)
    location = client.post("/search/", {"q": "red", "mode": "topk", "k": 10})["Location"]
    page = client.get(location, {"uploader": "orgmember"})
    assert b'data-testid="no-filter-match"' in page.content


def test_anonymous_search_page_filters_and_sorts(cast, photos):
    Gallery.objects.update(visibility="public")
    page = Client().get("/search/", {"q": "red", "mode": "topk", "k": 10, "sort": "-name"})
    content = page.content.decode()
    positions = [content.index(n) for n in ("d.jpg", "c.png", "b.jpg", "a.png")]
    assert positions == sorted(positions)
    bad = Client().get("/search/", {"q": "red", "uploaded_after": "not-a-date"})
    assert bad.status_code == 400 and b"Enter a valid date" in bad.content


def test_the_file_format_filter_is_not_taken_for_the_response_format(cast, photos):
    client = Client()
    client.force_login(cast.viewer)
    body = client.post(
        "/api/v1/search/", {"text": "red", "mode": "topk", "k": 10}, content_type="application/json"
    ).json()
    url = f"/api/v1/search/sessions/{body['session']}/iterations/0/"
    response = client.get(url, {"file_format": "JPEG"})
    assert response.status_code == 200, response.content
    assert sorted(r["image"]["original_filename"] for r in response.json()["results"]) == [
        "b.jpg",
        "d.jpg",
    ]


def _links(content: str, testid: str) -> list[str]:
    """The hrefs of the links marked data-testid=testid, &amp; decoded."""
    found = []
    for part in content.split("<a ")[1:]:
        tag = part.split(">")[0]
        if f'data-testid="{testid}"' in tag:
            found.append(tag.split('href="')[1].split('"')[0].replace("&amp;", "&"))
    return found


def test_session_pages_stay_on_their_iteration_and_keep_the_filters(cast, photos, settings):
    settings.CBIR_THRESHOLD_STATIC_TEXT = 2.0  # every image passes: pages of one
    client = Client()
    client.force_login(cast.viewer)
    location = client.post("/search/", {"q": "red", "mode": "static", "k": 1})["Location"]
    first = client.get(location, {"iteration": 0, "file_format": "JPEG", "sort": "name"})
    content = first.content.decode()
    assert "b.jpg" in content and "d.jpg" not in content
    [more] = _links(content, "more-results")
    assert more == "?iteration=0&file_format=JPEG&sort=name&page=2"
    second = client.get(location + more).content.decode()
    assert "d.jpg" in second and "b.jpg" not in second
    assert _links(second, "previous-results") == ["?iteration=0&file_format=JPEG&sort=name&page=1"]


def test_search_page_pages_keep_the_query_and_the_filters(cast, photos, settings):
    settings.CBIR_THRESHOLD_STATIC_TEXT = 2.0  # every image passes: pages of one
    Gallery.objects.update(visibility="public")
    first = Client().get("/search/", {"q": "red", "mode": "static", "k": 1, "sort": "-name"})
    content = first.content.decode()
    [more] = _links(content, "more-results")
    assert "q=red" in more and "mode=static" in more and more.endswith("&sort=-name&page=2")
    second = Client().get("/search/" + more).content.decode()
    assert "c.png" in second and "d.jpg" not in second  # Z to A: d, then c


def test_filters_apply_to_the_closest_results_when_nothing_is_confident(cast, photos, settings):
    settings.CBIR_THRESHOLD_STATIC_TEXT = 0.01  # nothing passes: the closest are shown
    client = Client()
    client.force_login(cast.viewer)
    location = client.post("/search/", {"q": "red", "mode": "static", "k": 10})["Location"]
    kept = client.get(location, {"file_format": "PNG"}).content.decode()
    assert 'data-testid="no-confident-match"' in kept
    assert "a.png" in kept and "c.png" in kept and "b.jpg" not in kept
    none = client.get(location, {"uploader": "nobody-by-this-name"}).content.decode()
    assert 'data-testid="no-filter-match"' in none and 'data-testid="nothing-found"' not in none
