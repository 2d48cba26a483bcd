"""Composed and negative queries through the search API (fake colour encoder)."""

from __future__ import annotations

import pytest

from indexing.embedding import images_embed
from tests.factories import png_bytes, upload

pytestmark = pytest.mark.django_db

COLOURS = {
    "red": (250, 10, 10),
    "magenta": (250, 10, 250),
    "blue": (10, 10, 250),
    "violet": (130, 10, 250),
    "green": (10, 250, 10),
    "white": (250, 250, 250),
}


@pytest.fixture
def images(cast):
    made = {n: upload(cast.gallery, png_bytes(c), name=f"{n}.png") for n, c in COLOURS.items()}
    images_embed(image_ids=[i.pk for i in made.values()])
    return made


def search(client, **body):  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/search/", {"mode": "topk", "k": 6, **body}, format="json")
    return response


def order(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [r["image"]["original_filename"][:-4] for r in response.json()["results"]]


def test_negative_words_push_results_away(cast, client_for, images):
    client = client_for(cast.viewer)
    plain = order(search(client, text="magenta"))
    without_blue = order(search(client, text="magenta", negative_text="blue", negative_weight=0.8))
    assert plain[0] == "magenta"
    assert without_blue.index("red") < plain.index("red")
    assert without_blue.index("blue") > plain.index("blue")


def test_several_example_images_combine_and_are_not_their_own_results(cast, client_for, images):
    client = client_for(cast.viewer)
    response = search(client, image_ids=[images["red"].pk, images["blue"].pk])
    got = order(response)
    assert "red" not in got and "blue" not in got
    assert got[0] in ("magenta", "violet")  # between red and blue
    assert response.json()["query"] == ["image_id", "image_id"]


def test_negative_example_images_count_against_results(cast, client_for, images):
    client = client_for(cast.viewer)
    got = order(search(client, text="blue", negative_image_ids=[images["violet"].pk]))
    assert got[0] == "blue" and "violet" not in got[:1]


def test_two_phase_keeps_the_words_candidates_and_orders_them_by_the_examples(
    cast, client_for, images
):
    client = client_for(cast.viewer)
    response = search(
        client, text="blue", image_ids=[images["red"].pk], composition="two_phase", first_phase=3
    )
    assert response.status_code == 200, response.content
    body = response.json()
    words_top3 = order(search(client, text="blue"))[:3]
    assert set(order(response)) <= set(words_top3)  # only the text's top M are candidates
    assert body["metric"] == "fusion:log_vote" and body["composition"] == "two_phase"
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)


def test_two_phase_needs_words_and_an_example_and_top_k(cast, client_for, images):
    client = client_for(cast.viewer)
    no_example = search(client, text="blue", composition="two_phase")
    assert no_example.status_code == 400 and "example image" in no_example.json()["detail"]
    thresholded = search(
        client, text="blue", image_ids=[images["red"].pk], composition="two_phase", mode="static"
    )
    assert thresholded.status_code == 400 and "topk" in thresholded.json()["detail"]


def test_examples_the_caller_cannot_see_are_not_found(cast, client_for, images):
    response = search(client_for(cast.outsider), image_ids=[images["red"].pk])
    assert response.status_code == 404
