"""The search page's composed queries: "more like this" / "not like this", weights, two-phase.

Through the Django test client with the fake colour encoder (tests/conftest.py):
"magenta" lies between red and blue, so liking or unliking them moves it.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from feedback.models import SearchSession
from indexing.embedding import images_embed
from search.forms import MAX_WEB_EXAMPLES
from tests.factories import GalleryFactory, png_bytes, upload

pytestmark = pytest.mark.django_db

COLOURS = {
    "red": (250, 10, 10),
    "magenta": (250, 10, 250),
    "blue": (10, 10, 250),
    "violet": (130, 10, 250),
    "green": (10, 250, 10),
    "white": (250, 250, 250),
}
TILE = re.compile(r'<figure class="tile[^"]*" data-image-id="(\d+)"')


@pytest.fixture
def public(db):  # type: ignore[no-untyped-def]
    """A public gallery of six colours, searchable by anyone."""
    gallery = GalleryFactory(slug="public", visibility="public")
    made = {n: upload(gallery, png_bytes(c), name=f"{n}.png") for n, c in COLOURS.items()}
    images_embed(image_ids=[i.pk for i in made.values()])
    return made


@pytest.fixture
def private_red(cast):  # type: ignore[no-untyped-def]
    image = upload(cast.gallery, png_bytes((240, 0, 0)), name="secret-red.png")
    images_embed(image_ids=[image.pk])
    return image


def signed_in(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def get(client: Client, **params):  # type: ignore[no-untyped-def]
    return client.get("/search/", {"mode": "topk", "k": 6, **params})


def order(response, images) -> list[str]:  # type: ignore[no-untyped-def]
    names = {i.pk: n for n, i in images.items()}
    return [names[int(i)] for i in TILE.findall(response.content.decode())]


def links(response, css_class: str) -> list[str]:  # type: ignore[no-untyped-def]
    html = response.content.decode()
    return [
        h.replace("&amp;", "&") for h in re.findall(rf'class="{css_class}" href="([^"]+)"', html)
    ]


def test_the_form_renders_negative_words_weights_and_composition_in_advanced(public):
    html = Client().get("/search/").content.decode()
    advanced = html[
        html.index('<details class="advanced"') : html.index(
            "</details>", html.index('<details class="advanced"')
        )
    ]
    for name in ("not_q", "text_weight", "image_weight", "negative_weight", "fusion"):
        assert f'name="{name}"' in advanced, name
    assert 'type="radio" name="composition" value="sum"' in advanced
    assert 'value="two_phase"' in advanced
    assert not re.search(r"\son[a-z]+=", html)  # no inline handlers under the CSP


def test_unliking_blue_moves_magenta_results_towards_red(public):
    plain = order(get(Client(), q="magenta"), public)
    # The mechanism at a weight that shows it on the toy colours (the default is measured
    # on photos: docs/evaluation/negative-weight.md).
    unliked = get(Client(), q="magenta", unlike=public["blue"].pk, negative_weight="0.5")
    assert unliked.status_code == 200
    without_blue = order(unliked, public)
    assert plain[0] == "magenta"
    assert without_blue.index("red") < plain.index("red")
    assert without_blue.index("blue") > plain.index("blue")


def test_liking_red_and_blue_finds_what_lies_between_and_leaves_the_examples_out(public):
    response = get(Client(), like=[public["red"].pk, public["blue"].pk])
    got = order(response, public)
    assert response.status_code == 200
    assert "red" not in got and "blue" not in got
    assert got[0] in ("magenta", "violet")


def test_more_like_this_links_accumulate_examples_shown_as_thumbnails(public):
    first = get(Client(), q="magenta")
    like = next(u for u in links(first, "like") if f"like={public['red'].pk}" in u)
    query = parse_qs(urlsplit(like).query)
    assert query["q"] == ["magenta"] and query["like"] == [str(public["red"].pk)]

    second = Client().get(like)
    assert second.status_code == 200
    assert "red" not in order(second, public)  # an example is not its own result
    unlike = next(u for u in links(second, "unlike") if f"unlike={public['blue'].pk}" in u)
    query = parse_qs(urlsplit(unlike).query)
    assert query["like"] == [str(public["red"].pk)] and query["unlike"] == [str(public["blue"].pk)]

    third = Client().get(unlike)
    html = third.content.decode()
    strip = html[
        html.index('data-testid="examples"') : html.index(
            "</div>", html.index('data-testid="examples"')
        )
    ]
    assert f'data-image-id="{public["red"].pk}" data-kind="like"' in strip
    assert f'data-image-id="{public["blue"].pk}" data-kind="unlike"' in strip
    assert 'alt="red.png"' in strip and 'alt="blue.png"' in strip


def test_remove_link_drops_one_example_and_keeps_the_rest(public):
    response = get(Client(), q="magenta", like=public["red"].pk, unlike=public["blue"].pk)
    removes = links(response, "remove")
    assert len(removes) == 2
    query = parse_qs(urlsplit(removes[0]).query)
    assert "like" not in query and query["unlike"] == [str(public["blue"].pk)]
    assert query["q"] == ["magenta"]
    assert Client().get(removes[0]).status_code == 200


def test_examples_the_caller_cannot_see_are_a_form_error_not_a_500(public, private_red):
    for image_id in (private_red.pk, 999_999):
        response = get(Client(), q="magenta", like=image_id)
        assert response.status_code == 400
        html = response.content.decode()
        assert f"There is no image {image_id} you can see" in html
        assert f"image {image_id} (not available)" in html  # with a remove link
        assert not TILE.findall(html)
    unlike = get(Client(), q="magenta", unlike=private_red.pk)
    assert unlike.status_code == 400 and b"There is no image" in unlike.content


def test_example_ids_must_be_whole_numbers(public):
    for bad in ("abc", "-3", "1.5", "0", "²", "9" * 30):
        response = get(Client(), q="magenta", like=bad)
        assert response.status_code == 400, bad
        assert b"is not one" in response.content


def test_at_most_the_cap_of_examples(public):
    extra = [
        upload(public["red"].gallery, png_bytes((n * 20, 100, 100)), name=f"e{n}.png")
        for n in range(MAX_WEB_EXAMPLES)
    ]
    images_embed(image_ids=[i.pk for i in extra])
    ids = [i.pk for i in extra]
    assert get(Client(), like=ids[:MAX_WEB_EXAMPLES]).status_code == 200
    response = get(Client(), like=ids, unlike=public["blue"].pk)
    assert response.status_code == 400
    assert f"At most {MAX_WEB_EXAMPLES} example images".encode() in response.content


def test_the_same_image_cannot_be_liked_and_unliked(public):
    response = get(Client(), q="magenta", like=public["red"].pk, unlike=public["red"].pk)
    assert response.status_code == 400 and b"is both" in response.content


def test_two_phase_needs_words_and_an_example_and_top_k(public):
    no_example = get(Client(), q="blue", composition="two_phase")
    assert no_example.status_code == 400
    assert b"Two-phase needs words and at least one example image" in no_example.content
    assert b'<details class="advanced" data-testid="advanced" open' in no_example.content
    no_words = get(Client(), like=public["red"].pk, composition="two_phase")
    assert no_words.status_code == 400 and b"Two-phase needs words" in no_words.content
    thresholded = get(
        Client(), q="blue", like=public["red"].pk, composition="two_phase", mode="static"
    )
    assert thresholded.status_code == 400 and b"fixed set of candidates" in thresholded.content


def test_two_phase_from_the_page_orders_the_words_results_by_the_examples(public):
    response = get(Client(), q="blue", like=public["red"].pk, composition="two_phase", fusion="rrf")
    assert response.status_code == 200
    got = order(response, public)
    plain = order(get(Client(), q="blue"), public)
    assert got and "red" not in got
    assert got.index("magenta") < plain.index("magenta")  # closer to the red example
    assert b"fusion:rrf" in response.content and b"two-phase" in response.content


def test_advanced_values_open_the_section_and_travel_in_the_links(public):
    response = Client().post(
        "/search/",
        {"q": "magenta", "not_q": "blue", "negative_weight": "0.8", "mode": "topk", "k": 6},
    )
    assert response.status_code == 200
    assert b'<details class="advanced" data-testid="advanced" open' in response.content
    query = parse_qs(urlsplit(links(response, "like")[0]).query)
    assert query["not_q"] == ["blue"] and query["negative_weight"] == ["0.8"]
    assert "text_weight" not in query and "composition" not in query  # defaults stay out
    plain = order(get(Client(), q="magenta"), public)
    assert order(response, public).index("red") < plain.index("red")


def test_a_bad_weight_is_a_form_error(public):
    response = get(Client(), q="magenta", negative_weight="-1")
    assert response.status_code == 400 and b'name="negative_weight"' in response.content


def test_signed_in_like_link_starts_a_session_with_the_examples(cast, public):
    client = signed_in(cast.viewer)
    response = get(client, q="magenta", unlike=public["blue"].pk, negative_weight="0.8")
    assert response.status_code == 302
    session = SearchSession.objects.get(user=cast.viewer)
    assert session.negative_image_ids == [public["blue"].pk]
    assert session.query_text == "magenta"

    page = client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-image-id="{public["blue"].pk}" data-kind="unlike"' in html
    like = next(u for u in links(page, "like") if f"like={public['red'].pk}" in u)
    query = parse_qs(urlsplit(like).query)
    assert query["q"] == ["magenta"] and query["unlike"] == [str(public["blue"].pk)]
    assert "galleries" not in query  # the session searched everything the viewer sees

    again = client.get(like)
    assert again.status_code == 302
    newest = SearchSession.objects.filter(user=cast.viewer).first()
    assert newest.example_image_ids == [public["red"].pk]
    assert newest.negative_image_ids == [public["blue"].pk]


def test_signed_in_invisible_example_stays_on_the_form(cast, public):
    other = GalleryFactory(slug="elsewhere")
    hidden = upload(other, png_bytes((1, 2, 3)), name="hidden.png")
    response = get(signed_in(cast.viewer), q="magenta", like=hidden.pk)
    assert response.status_code == 400 and b"There is no image" in response.content
    assert not SearchSession.objects.exists()


def test_edit_link_shows_the_sessions_query_in_the_form_without_searching(cast, public):
    client = signed_in(cast.viewer)
    start = get(client, q="magenta", like=public["red"].pk)
    page = client.get(start["Location"])
    edit = re.search(r'href="([^"]+)" data-testid="edit-search"', page.content.decode())
    assert edit is not None
    form = client.get(edit.group(1).replace("&amp;", "&"))
    assert form.status_code == 200
    html = form.content.decode()
    assert 'value="magenta"' in html
    assert f'name="like" value="{public["red"].pk}"' in html
    assert SearchSession.objects.filter(user=cast.viewer).count() == 1
