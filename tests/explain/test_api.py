"""The explanation endpoints: permissions as for the result, pending -> ready, the PNG overlay."""

from __future__ import annotations

import io

import pytest
from PIL import Image as PILImage

from explain.models import Explanation
from explain.services import explanations_evict
from explain.tasks import explain_compute
from feedback.models import SearchIteration
from galleries.models import Membership
from indexing.embedding import images_embed
from tests.factories import png_bytes, upload

pytestmark = pytest.mark.django_db

COLOURS = {"red": (250, 10, 10), "blue": (10, 10, 250), "green": (10, 250, 10)}


@pytest.fixture
def images(cast):
    made = {n: upload(cast.gallery, png_bytes(c), name=f"{n}.png") for n, c in COLOURS.items()}
    images_embed(image_ids=[i.pk for i in made.values()])
    return made


def start(client, **query):  # type: ignore[no-untyped-def]
    body = {"k": 3, "mode": "topk", **query}
    response = client.post("/api/v1/search/", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def url(session: str, number: int, image_id: int, suffix: str = "") -> str:
    return f"/api/v1/search/sessions/{session}/iterations/{number}/explain/{image_id}/{suffix}"


def run_pending() -> None:
    """What the worker does: the task function on every pending row."""
    for row in Explanation.objects.filter(status="pending"):
        iteration = SearchIteration.objects.order_by("-id").first()
        explain_compute(row.pk, iteration.pk)


def test_pending_then_ready_with_regions_parts_and_an_overlay(cast, client_for, images):
    client = client_for(cast.viewer)
    body = start(client, text="red")
    red = images["red"].pk
    first = client.get(url(body["session"], 0, red))
    assert first.status_code == 202, first.content
    assert first.json()["status"] == "pending" and first.json()["overlay_url"] is None
    run_pending()
    ready = client.get(url(body["session"], 0, red))
    assert ready.status_code == 200
    data = ready.json()
    assert data["status"] == "ready" and data["method"] == "occlusion"  # the fake encoder
    assert 1 <= data["passes"] <= 64 and data["regions"] and len(data["regions"][0]) >= 1
    terms = data["parts"]["terms"]
    assert [t["kind"] for t in terms] == ["text"]
    assert sum(t["contribution"] for t in terms) == pytest.approx(
        body["results"][0]["score"], abs=1e-4
    )
    png = client.get(data["overlay_url"])
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert PILImage.open(io.BytesIO(png.content)).format == "PNG"
    full = client.get(data["overlay_url"] + "&full=1")
    assert full.status_code == 200 and PILImage.open(io.BytesIO(full.content)).size == (64, 48)
    assert Explanation.objects.count() == 1  # asked twice, computed once


def test_a_composed_querys_contributions_add_up_to_its_score(cast, client_for, images):
    client = client_for(cast.viewer)
    body = start(
        client,
        text="red",
        image_ids=[images["blue"].pk],
        negative_text="green",
        text_weight=1.0,
        image_weight=0.7,
        negative_weight=0.4,
    )
    shown = {r["image"]["id"]: r["score"] for r in body["results"]}
    target = next(i for i in shown if i != images["blue"].pk)
    client.get(url(body["session"], 0, target))
    run_pending()
    parts = client.get(url(body["session"], 0, target)).json()["parts"]
    kinds = [t["kind"] for t in parts["terms"]]
    assert kinds == ["text", "example", "negative_text"]
    assert parts["terms"][2]["weight"] < 0
    assert sum(t["contribution"] for t in parts["terms"]) == pytest.approx(shown[target], abs=1e-4)


def test_another_users_session_is_not_found(cast, client_for, images):
    body = start(client_for(cast.viewer), text="red")
    response = client_for(cast.owner).get(url(body["session"], 0, images["red"].pk))
    assert response.status_code == 404
    assert not Explanation.objects.exists()


def test_an_image_no_longer_visible_is_not_found(cast, client_for, images):
    client = client_for(cast.viewer)
    body = start(client, text="red")
    Membership.objects.filter(gallery=cast.gallery, user=cast.viewer).delete()
    response = client.get(url(body["session"], 0, images["red"].pk))
    assert response.status_code == 404
    assert not Explanation.objects.exists()


def test_an_image_that_was_not_a_result_is_not_found(cast, client_for, images):
    client = client_for(cast.viewer)
    body = start(client, text="red", k=1)
    response = client.get(url(body["session"], 0, images["green"].pk))
    assert response.status_code == 404 and "not a result" in response.json()["detail"]


@pytest.mark.parametrize(
    "path, expected",
    [
        ("{s}/iterations/7/explain/{i}/", 404),  # no such iteration
        ("{s}/iterations/0/explain/999999/", 404),  # no such image
        ("00000000-0000-0000-0000-000000000000/iterations/0/explain/{i}/", 404),
        ("not-a-uuid/iterations/0/explain/{i}/", 404),
        ("{s}/iterations/-1/explain/{i}/", 404),
        ("{s}/iterations/zero/explain/{i}/", 404),
        ("{s}/iterations/0/explain/{i}/?method=magic", 400),
    ],
)
def test_bad_ids_iterations_and_methods_are_refused(cast, client_for, images, path, expected):
    client = client_for(cast.viewer)
    body = start(client, text="red")
    full = "/api/v1/search/sessions/" + path.format(s=body["session"], i=images["red"].pk)
    response = client.get(full)
    assert response.status_code == expected, response.content
    assert response["Content-Type"].startswith("application/json")
    assert not Explanation.objects.exists()


def test_the_overlay_of_a_pending_explanation_is_a_conflict(cast, client_for, images):
    client = client_for(cast.viewer)
    body = start(client, text="red")
    response = client.get(url(body["session"], 0, images["red"].pk, "overlay.png"))
    assert response.status_code == 409 and response.json()["code"] == "pending"


def test_anonymous_callers_are_refused(cast, client_for, images):
    body = start(client_for(cast.viewer), text="red")
    assert client_for(None).get(url(body["session"], 0, images["red"].pk)).status_code in (401, 403)


def test_the_cache_keeps_the_newest_rows(cast, client_for, images, settings):
    client = client_for(cast.viewer)
    body = start(client, text="red")
    for name in ("red", "blue", "green"):
        client.get(url(body["session"], 0, images[name].pk))
    assert Explanation.objects.count() == 3
    assert explanations_evict(keep=2) == 1
    assert set(Explanation.objects.values_list("image_id", flat=True)) == {
        images["blue"].pk,
        images["green"].pk,
    }


def test_a_huge_image_stays_within_the_pass_and_time_bounds(cast, client_for, settings):
    """8000 x 6000 pixels through the guarded decode: reduced first, then at most the budget."""
    from explain.services import WORKING_SIDE, picture_load

    settings.CBIR_EXPLAIN_MAX_PASSES = 10
    settings.CBIR_EXPLAIN_TIME_BUDGET_S = 2.0
    huge = upload(cast.gallery, png_bytes((240, 20, 20), size=(8000, 6000)), name="huge.png")
    images_embed(image_ids=[huge.pk])
    assert max(picture_load(huge, min_side=32).size) <= WORKING_SIDE
    client = client_for(cast.viewer)
    body = start(client, text="red", k=1)
    client.get(url(body["session"], 0, huge.pk))
    run_pending()
    data = client.get(url(body["session"], 0, huge.pk)).json()
    assert data["status"] == "ready", data
    assert data["passes"] <= 10 and data["seconds"] <= 2.0 + 1.0
    assert len(data["regions"]) == 4  # the largest grid whose 2x2 windows fit: 9 + 1 passes


def test_two_phase_tells_each_phases_rank_and_the_fused_score(cast, client_for, images):
    client = client_for(cast.viewer)
    body = start(client, text="red", image_ids=[images["blue"].pk], composition="two_phase")
    first = body["results"][0]
    client.get(url(body["session"], 0, first["image"]["id"]))
    run_pending()
    parts = client.get(url(body["session"], 0, first["image"]["id"])).json()["parts"]
    phases = parts["two_phase"]
    assert phases["fused_score"] == pytest.approx(first["score"], abs=1e-5)
    assert (
        1 <= phases["text_rank"] <= phases["among"]
        and 1 <= phases["example_rank"] <= phases["among"]
    )


def test_a_stale_failure_is_queued_again_on_the_next_request(cast, client_for, images, settings):
    from datetime import timedelta

    from django.utils import timezone

    client = client_for(cast.viewer)
    body = start(client, text="red")
    target = url(body["session"], 0, images["red"].pk)
    client.get(target)
    Explanation.objects.update(status="failed", error="The server is busy decoding.")
    assert client.get(target).json()["status"] == "failed"  # recent: told as it is
    Explanation.objects.update(updated_at=timezone.now() - timedelta(hours=1))
    again = client.get(target)
    assert again.status_code == 202 and again.json()["error"] == ""
    run_pending()
    assert client.get(target).json()["status"] == "ready"
