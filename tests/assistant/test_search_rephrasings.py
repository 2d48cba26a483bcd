"""Accepted suggestions on POST /api/v1/search/: rephrasings fused, never losing the original."""

from __future__ import annotations

import pytest

from feedback.models import SearchSession
from indexing.embedding import images_embed
from tests.factories import png_bytes, upload

pytestmark = pytest.mark.django_db

SEARCH = "/api/v1/search/"
COLOURS = {"red": (250, 10, 10), "green": (10, 250, 10), "blue": (10, 10, 250)}


@pytest.fixture
def colours(cast):
    images = {n: upload(cast.gallery, png_bytes(c), name=f"{n}.png") for n, c in COLOURS.items()}
    images_embed(image_ids=[i.pk for i in images.values()])
    return images


def ids(body) -> list[int]:  # type: ignore[no-untyped-def]
    return [hit["image"]["id"] for hit in body["results"]]


@pytest.mark.parametrize("fusion", ["log_vote", "rrf"])
def test_fusion_keeps_every_result_of_the_original_query(cast, client_for, colours, fusion):
    client = client_for(cast.viewer)
    plain = client.post(SEARCH, {"text": "something red", "k": 1, "mode": "topk"}, format="json")
    original = ids(plain.json())
    body = {
        "text": "something red",
        "k": 1,
        "rephrasings": ["something blue", "something green"],
        "fusion": fusion,
        "page_size": 3,
    }
    fused = client.post(SEARCH, body, format="json")
    assert fused.status_code == 200, fused.json()
    data = fused.json()
    assert data["metric"] == f"fusion:{fusion}" and "rephrasings" in data["query"]
    assert set(original) <= set(ids(data))
    assert data["total"] == 3  # the union of the three top-1 lists
    assert ids(data)[0] == original[0]  # ties keep the original's list first


def test_rephrasings_need_a_text_query(cast, client_for, colours):
    body = {"image_id": colours["red"].pk, "rephrasings": ["x"]}
    response = client_for(cast.viewer).post(SEARCH, body, format="json")
    assert response.status_code == 400 and "text" in str(response.json())


def test_suggested_negatives_join_the_negative_text(cast, client_for, colours):
    body = {"text": "something red", "negative_text": "dark", "negative_suggestions": ["blue"]}
    response = client_for(cast.viewer).post(SEARCH, body, format="json")
    assert response.status_code == 200
    session = SearchSession.objects.get(pk=response.json()["session"])
    assert session.negative_text == "dark, blue"


def test_too_many_or_too_long_suggestions_are_refused(cast, client_for, colours):
    client = client_for(cast.viewer)
    many = {"text": "red", "rephrasings": [f"r{i}" for i in range(9)]}
    assert client.post(SEARCH, many, format="json").status_code == 400
    long = {"text": "red", "rephrasings": ["x" * 201]}
    assert client.post(SEARCH, long, format="json").status_code == 400
