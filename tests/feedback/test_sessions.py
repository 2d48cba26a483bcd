"""Search sessions, the judgement log and Rocchio refinement through the API."""

from __future__ import annotations

import numpy as np
import pytest

from feedback.models import Judgement, SearchIteration, SearchSession
from galleries.models import Membership
from indexing.embedding import images_embed
from tests.factories import GalleryFactory, add_member, png_bytes, upload

pytestmark = pytest.mark.django_db

COLOURS = {
    "red": (250, 10, 10),
    "orange": (250, 120, 10),
    "purple": (150, 10, 200),
    "blue": (10, 10, 250),
    "green": (10, 250, 10),
}


@pytest.fixture
def images(cast):
    made = {n: upload(cast.gallery, png_bytes(c), name=f"{n}.png") for n, c in COLOURS.items()}
    images_embed(image_ids=[i.pk for i in made.values()])
    return made


def start(client, text="red", **extra):  # type: ignore[no-untyped-def]
    response = client.post(
        "/api/v1/search/", {"text": text, "k": 5, "mode": "topk", **extra}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def names(body) -> list[str]:  # type: ignore[no-untyped-def]
    return [r["image"]["original_filename"].removesuffix(".png") for r in body["results"]]


def test_a_signed_in_search_starts_a_session_with_its_first_iteration(cast, client_for, images):
    body = start(client_for(cast.viewer))
    session = SearchSession.objects.get(pk=body["session"])
    assert body["iteration"] == 0 and session.user == cast.viewer and session.query_text == "red"
    first = session.iterations.get()
    assert first.kind == "initial" and first.results[0][0] == images["red"].pk
    assert [r[1] for r in first.results] == [1, 2, 3, 4, 5]
    assert np.linalg.norm(np.asarray(first.query_vector)) == pytest.approx(1.0, abs=1e-5)


def test_anonymous_searches_start_no_session(cast, client_for, images):
    cast.gallery.visibility = "public"
    cast.gallery.save()
    body = start(client_for(None))
    assert body["session"] is None and not SearchSession.objects.exists()


def test_each_judgement_is_logged_once_with_where_it_was_shown(cast, client_for, images):
    client = client_for(cast.viewer)
    session = start(client)["session"]
    url = f"/api/v1/search/sessions/{session}/judgements/"
    orange = images["orange"].pk
    first = client.post(url, {"image_id": orange, "label": "relevant"}, format="json")
    assert first.status_code == 201
    again = client.post(url, {"image_id": orange, "label": "relevant"}, format="json")
    assert again.status_code == 200  # the same label again: nothing new to log
    changed = client.post(url, {"image_id": orange, "label": "not_relevant"}, format="json")
    withdrawn = client.post(url, {"image_id": orange, "label": "withdrawn"}, format="json")
    assert changed.status_code == withdrawn.status_code == 201
    log = list(Judgement.objects.filter(image_id=orange).values_list("label", flat=True))
    assert log == ["relevant", "not_relevant", "withdrawn"]
    row = Judgement.objects.first()
    assert row.user == cast.viewer and row.iteration.number == 0
    assert row.rank == 2 and row.score == pytest.approx(first.json()["score"])


def test_refining_moves_results_toward_what_was_marked_relevant(cast, client_for, images):
    client = client_for(cast.viewer)
    body = start(client, "red")
    session = body["session"]
    judge = f"/api/v1/search/sessions/{session}/judgements/"
    client.post(judge, {"image_id": images["purple"].pk, "label": "relevant"}, format="json")
    client.post(judge, {"image_id": images["orange"].pk, "label": "not_relevant"}, format="json")
    refined = client.post(
        f"/api/v1/search/sessions/{session}/refine/",
        {"alpha": 1.0, "beta": 1.0, "gamma": 0.5},
        format="json",
    )
    assert refined.status_code == 201, refined.content
    after = refined.json()
    before_order, after_order = (
        names(body),
        [r["image"]["original_filename"][:-4] for r in after["results"]],
    )
    assert after_order.index("purple") < before_order.index("purple")
    assert after_order.index("orange") > before_order.index("orange")
    assert after["number"] == 1 and after["kind"] == "feedback"
    labels = {r["image"]["original_filename"][:-4]: r["label"] for r in after["results"]}
    assert labels["purple"] == "relevant" and labels["orange"] == "not_relevant"
    iteration = SearchIteration.objects.get(session_id=session, number=1)
    assert iteration.params["beta"] == 1.0 and iteration.params["relevant"] == [images["purple"].pk]


def test_pin_shows_relevant_first_and_hide_removes_everything_judged(cast, client_for, images):
    client = client_for(cast.viewer)
    session = start(client, "red")["session"]
    judge = f"/api/v1/search/sessions/{session}/judgements/"
    client.post(judge, {"image_id": images["blue"].pk, "label": "relevant"}, format="json")
    client.post(judge, {"image_id": images["orange"].pk, "label": "not_relevant"}, format="json")
    refine = f"/api/v1/search/sessions/{session}/refine/"
    pinned = client.post(refine, {"judged": "pin"}, format="json").json()["results"]
    assert pinned[0]["image"]["id"] == images["blue"].pk and pinned[0]["score"] is None
    assert images["orange"].pk not in [r["image"]["id"] for r in pinned]
    hidden = client.post(refine, {"judged": "hide"}, format="json").json()["results"]
    shown = {r["image"]["id"] for r in hidden}
    assert images["blue"].pk not in shown and images["orange"].pk not in shown


def test_pseudo_relevance_feedback_needs_no_judgements(cast, client_for, images):
    client = client_for(cast.viewer)
    session = start(client, "red")["session"]
    response = client.post(
        f"/api/v1/search/sessions/{session}/refine/",
        {"pseudo_positives": 2, "pseudo_negatives": True},
        format="json",
    )
    assert response.status_code == 201
    iteration = SearchIteration.objects.get(session_id=session, number=1)
    assert iteration.kind == "pseudo" and len(iteration.params["relevant"]) == 2
    assert len(iteration.params["non_relevant"]) == 2 and not Judgement.objects.exists()


def test_refining_without_feedback_explains_itself(cast, client_for, images):
    client = client_for(cast.viewer)
    session = start(client)["session"]
    response = client.post(f"/api/v1/search/sessions/{session}/refine/", {}, format="json")
    assert response.status_code == 400 and "Mark at least one" in response.json()["detail"]


def test_every_earlier_iteration_stays_reachable(cast, client_for, images):
    client = client_for(cast.viewer)
    body = start(client)
    session = body["session"]
    client.post(
        f"/api/v1/search/sessions/{session}/refine/", {"pseudo_positives": 1}, format="json"
    )
    first = client.get(f"/api/v1/search/sessions/{session}/iterations/0/").json()
    assert [r["image"]["id"] for r in first["results"]] == [
        r["image"]["id"] for r in body["results"]
    ]
    assert client.get(f"/api/v1/search/sessions/{session}/").json()["iterations"] == [0, 1]
    assert client.get(f"/api/v1/search/sessions/{session}/iterations/7/").status_code == 404


def test_users_see_and_judge_only_their_own_sessions(cast, client_for, images):
    session = start(client_for(cast.viewer))["session"]
    other = client_for(cast.editor)
    assert other.get(f"/api/v1/search/sessions/{session}/").status_code == 404
    response = other.post(
        f"/api/v1/search/sessions/{session}/judgements/",
        {"image_id": images["red"].pk, "label": "relevant"},
        format="json",
    )
    assert response.status_code == 404 and not Judgement.objects.exists()
    assert other.get("/api/v1/search/sessions/").json()["count"] == 0


def test_only_visible_images_can_be_judged(cast, client_for, images):
    hidden_gallery = GalleryFactory(slug="elsewhere", owner=cast.outsider)
    secret = upload(hidden_gallery, png_bytes((1, 2, 3)), name="secret.png")
    client = client_for(cast.viewer)
    session = start(client)["session"]
    response = client.post(
        f"/api/v1/search/sessions/{session}/judgements/",
        {"image_id": secret.pk, "label": "relevant"},
        format="json",
    )
    assert response.status_code == 404 and not Judgement.objects.exists()


def test_refinement_rechecks_permissions(cast, client_for, images):
    shared = GalleryFactory(slug="shared", owner=cast.owner)
    add_member(shared, cast.viewer, "viewer")
    extra = upload(shared, png_bytes((240, 20, 20)), name="shared-red.png")
    images_embed(image_ids=[extra.pk])
    client = client_for(cast.viewer)
    body = start(client, "red", galleries=["private", "shared"])
    assert extra.pk in [r["image"]["id"] for r in body["results"]]
    Membership.objects.filter(gallery=shared, user=cast.viewer).delete()  # access revoked
    refined = client.post(
        f"/api/v1/search/sessions/{body['session']}/refine/", {"pseudo_positives": 1}, format="json"
    ).json()
    assert extra.pk not in [r["image"]["id"] for r in refined["results"]]
    earlier = client.get(f"/api/v1/search/sessions/{body['session']}/iterations/0/").json()
    assert extra.pk not in [r["image"]["id"] for r in earlier["results"]]


def test_only_shown_results_can_be_judged(cast, client_for, images):
    client = client_for(cast.viewer)
    session = start(client, "red", k=2)["session"]  # shows two of the five images
    shown = set(SearchIteration.objects.get(session_id=session).results[i][0] for i in (0, 1))
    unseen = next(i for i in images.values() if i.pk not in shown)
    judge = f"/api/v1/search/sessions/{session}/judgements/"
    response = client.post(judge, {"image_id": unseen.pk, "label": "relevant"}, format="json")
    assert response.status_code == 400 and "not among the results" in response.json()["detail"]
    assert not Judgement.objects.exists()
    wrong_iteration = client.post(
        judge, {"image_id": min(shown), "label": "relevant", "iteration": 3}, format="json"
    )
    assert wrong_iteration.status_code == 404 and not Judgement.objects.exists()
    ok = client.post(judge, {"image_id": min(shown), "label": "relevant"}, format="json")
    assert ok.status_code == 201 and Judgement.objects.get().rank in (1, 2)


def test_an_image_shown_in_an_earlier_iteration_can_still_be_judged(cast, client_for, images):
    client = client_for(cast.viewer)
    session = start(client, "red")["session"]
    refine = f"/api/v1/search/sessions/{session}/refine/"
    judge = f"/api/v1/search/sessions/{session}/judgements/"
    client.post(judge, {"image_id": images["red"].pk, "label": "relevant"}, format="json")
    client.post(refine, {"judged": "hide"}, format="json")  # red is not shown in iteration 1
    response = client.post(
        judge, {"image_id": images["red"].pk, "label": "not_relevant"}, format="json"
    )
    assert response.status_code == 201
    latest = Judgement.objects.order_by("-id").first()
    assert latest.iteration.number == 0 and latest.rank == 1


def test_weights_that_cancel_the_query_are_a_clear_error(cast, client_for, images):
    client = client_for(cast.viewer)
    session = start(client, "red")["session"]
    client.post(
        f"/api/v1/search/sessions/{session}/judgements/",
        {"image_id": images["blue"].pk, "label": "relevant"},
        format="json",
    )
    refine = f"/api/v1/search/sessions/{session}/refine/"
    zero = client.post(refine, {"alpha": 0, "beta": 0, "gamma": 0}, format="json")
    assert zero.status_code == 400 and "zero vector" in zero.json()["detail"]
    negative = client.post(refine, {"alpha": -1}, format="json")
    assert negative.status_code == 400 and "alpha" in str(negative.json())
    assert SearchIteration.objects.filter(session_id=session).count() == 1


def test_pin_in_pseudo_mode_pins_the_users_relevant_marks_only(cast, client_for, images):
    client = client_for(cast.viewer)
    session = start(client, "red")["session"]
    judge = f"/api/v1/search/sessions/{session}/judgements/"
    client.post(judge, {"image_id": images["red"].pk, "label": "not_relevant"}, format="json")
    client.post(judge, {"image_id": images["green"].pk, "label": "relevant"}, format="json")
    body = client.post(
        f"/api/v1/search/sessions/{session}/refine/",
        {"pseudo_positives": 2, "judged": "pin"},
        format="json",
    ).json()
    ids = [r["image"]["id"] for r in body["results"]]
    assert ids[0] == images["green"].pk  # marked relevant, though not in the pseudo top 2
    assert images["red"].pk not in ids  # in the top 2, but the user said not relevant
