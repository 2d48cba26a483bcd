"""Never a silent empty page: a cutoff search that keeps nothing shows its closest results.

The galleries' cutoffs are made impossible to pass (a static distance of 0 with
w = 0, as a manager's override), so every cutoff mode keeps nothing while the
galleries hold embedded images. Through the service, the REST API, the search
page and the session page, with the fake colour encoder.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from feedback.models import SearchSession
from indexing.embedding import images_embed
from indexing.encoders.fake import FakeEncoder
from search.cutoffs import gallery_cutoff_overrides_set
from search.fallback import CLOSEST_MAX, NOTICE
from search.request import SearchRequest
from search.services import search_images
from search.statistics import gallery_statistics_update
from tests.factories import GalleryFactory, add_member, png_bytes, upload

pytestmark = pytest.mark.django_db

REDS = [(250 - 12 * i, 6 * i, 6 * i) for i in range(8)]  # reddest first
OTHERS = [(10, 240, 10), (10, 10, 240), (240, 240, 240), (20, 200, 200), (200, 200, 20)]
CUTOFF_MODES = ["static", "dynamic", "query", "auto"]
TILE = re.compile(r'<figure class="tile[^"]*" data-image-id="(\d+)"')


@pytest.fixture(autouse=True)
def threshold_settings(settings):  # type: ignore[no-untyped-def]
    settings.CBIR_THRESHOLD_MIN_IMAGES = 3
    settings.CBIR_THRESHOLD_NEIGHBOURS = 2
    settings.CBIR_THRESHOLD_STATIC_TEXT = 0.5
    settings.CBIR_THRESHOLD_STATIC_IMAGE = 0.5
    settings.CBIR_THRESHOLD_WEIGHT = 1.0
    # The galleries' own cutoffs are made unpassable: keep text queries on them (the calibrated
    # text cutoffs' fallback is tested in test_text_cutoff.py).
    settings.CBIR_TEXT_CUTOFF = "dynamic"
    cache.clear()


def unpassable(gallery) -> None:  # type: ignore[no-untyped-def]
    """A manager's override no image can pass: distance < 0 (similarity > 1)."""
    gallery_cutoff_overrides_set(
        gallery=gallery,
        model_name=FakeEncoder.name,
        values={"static_text": 0.0, "static_image": 0.0, "weight": 0.0},
    )


@pytest.fixture
def world(cast):  # type: ignore[no-untyped-def]
    """The viewer's two galleries (cutoffs nobody passes) and someone else's perfect red."""
    second = GalleryFactory(slug="second", owner=cast.owner)
    add_member(second, cast.viewer, "viewer")
    images = [upload(cast.gallery, png_bytes(c), name=f"red{n}.png") for n, c in enumerate(REDS)]
    images += [upload(second, png_bytes(c), name=f"other{n}.png") for n, c in enumerate(OTHERS)]
    hidden = GalleryFactory(slug="hidden", owner=cast.outsider)
    secret = upload(hidden, png_bytes((255, 0, 0)), name="secret-red.png")
    images_embed(image_ids=[i.pk for i in [*images, secret]], encoder=FakeEncoder())
    for gallery in (cast.gallery, second, hidden):
        gallery_statistics_update(gallery_id=gallery.pk, model_name=FakeEncoder.name)
        unpassable(gallery)
    return {"images": images, "secret": secret, "galleries": (cast.gallery, second)}


def post(client, **body):  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/search/", {"text": "red", "k": 50, **body}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.parametrize("mode", CUTOFF_MODES)
def test_no_confident_match_gives_the_closest_visible_results_and_a_notice(
    cast, client_for, world, mode
):
    body = post(client_for(cast.viewer), mode=mode)
    assert body["mode"] != "topk" and body["results"] == [] and body["total"] == 0
    assert body["notice"] == NOTICE
    closest = body["closest"]
    assert len(closest) == CLOSEST_MAX  # min(k, 12): 13 visible images, k = 50
    scores = [r["score"] for r in closest]
    assert scores == sorted(scores, reverse=True)
    assert [r["rank"] for r in closest] == list(range(1, CLOSEST_MAX + 1))
    assert all(r["below_cutoff"] is True for r in closest)
    assert closest[0]["image"]["original_filename"] == "red0.png"
    visible = {i.pk for i in world["images"]}
    assert {r["image"]["id"] for r in closest} <= visible
    assert world["secret"].pk not in {r["image"]["id"] for r in closest}
    # Each gallery's cutoff and its source stay visible, and nothing shown passed it.
    cutoffs = {t["gallery"]: t for t in body["thresholds"]}
    assert set(cutoffs) == {"private", "second"}
    assert all(t["source"] in ("static", "dynamic", "query") for t in cutoffs.values())
    assert all(r["score"] <= cutoffs["private"]["similarity"] for r in closest)


def test_closest_results_are_at_most_k(cast, world):
    result = search_images(user=cast.viewer, request=SearchRequest(text="red", mode="static", k=3))
    assert result.hits == [] and [h.rank for h in result.closest] == [1, 2, 3]
    assert [h.image.original_filename for h in result.closest] == [
        "red0.png",
        "red1.png",
        "red2.png",
    ]


def test_the_pgvector_backend_gives_the_same_closest_results(cast, world, settings):
    in_memory = search_images(
        user=cast.viewer, request=SearchRequest(text="red", mode="static", k=50)
    )
    settings.CBIR_INDEX_BACKEND = "pgvector"
    in_sql = search_images(user=cast.viewer, request=SearchRequest(text="red", mode="static", k=50))
    assert in_sql.hits == [] and len(in_sql.closest) == CLOSEST_MAX
    assert [h.image.pk for h in in_sql.closest] == [h.image.pk for h in in_memory.closest]


def test_strict_keeps_an_empty_answer_empty(cast, client_for, world):
    body = post(client_for(cast.viewer), mode="static", strict=True)
    assert body["results"] == [] and body["closest"] == [] and body["notice"] is None
    session = SearchSession.objects.get(pk=body["session"])
    assert session.params["strict"] is True
    iteration = client_for(cast.viewer).get(f"/api/v1/search/sessions/{session.pk}/iterations/0/")
    assert iteration.json()["closest"] == [] and iteration.json()["notice"] is None


def test_top_k_is_unchanged(cast, client_for, world):
    body = post(client_for(cast.viewer), mode="topk", k=5)
    assert len(body["results"]) == 5 and body["closest"] == [] and body["notice"] is None
    assert all(r["below_cutoff"] is False for r in body["results"])


def test_confident_results_come_without_closest(cast, client_for, world):
    for gallery in world["galleries"]:
        gallery_cutoff_overrides_set(
            gallery=gallery, model_name=FakeEncoder.name, values={"static_text": 0.5, "weight": 0}
        )
    body = post(client_for(cast.viewer), mode="static")
    assert body["total"] > 0 and body["closest"] == [] and body["notice"] is None


def test_closest_results_come_only_from_the_callers_galleries(cast, client_for, world):
    body = post(client_for(cast.outsider), mode="static", galleries=["hidden"])
    assert body["results"] == [] and body["total"] == 0
    assert [r["image"]["original_filename"] for r in body["closest"]] == ["secret-red.png"]
    anonymous = client_for(None).post(
        "/api/v1/search/", {"text": "red", "mode": "static"}, format="json"
    )
    assert anonymous.json()["closest"] == [] and anonymous.json()["results"] == []


def test_the_openapi_schema_documents_the_fallback(client_for):
    schema = client_for(None).get("/api/schema/?format=json")
    assert schema.status_code == 200
    components = schema.json()["components"]["schemas"]
    assert {"closest", "notice"} <= set(components["SearchOutput"]["properties"])
    assert "strict" in components["SearchInputRequest"]["properties"]
    assert "below_cutoff" in components["SearchHitOutput"]["properties"]
    assert {"closest", "notice"} <= set(components["IterationOutput"]["properties"])


# ---------------------------------------------------------------- pages


def page_parts(html: str) -> tuple[list[int], list[int]]:
    """Tile ids above and below the "Closest results" divider."""
    before, _, after = html.partition('data-testid="closest-divider"')
    return [int(i) for i in TILE.findall(before)], [int(i) for i in TILE.findall(after)]


def best_link(html: str) -> str:
    found = re.search(r'href="([^"]+)" data-testid="best-matches">Show best matches<', html)
    assert found, "no Show best matches link"
    return found.group(1).replace("&amp;", "&")


def test_search_page_says_no_confident_match_and_links_to_best_matches(cast, world):
    for gallery in world["galleries"]:
        gallery.visibility = "public"
        gallery.save()
    client = Client()
    response = client.get("/search/", {"q": "red", "mode": "static", "k": 5, "galleries": "second"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "No confident match" in html
    assert "Closest results (below the cutoff)" in html
    above, below = page_parts(html)
    second = [i.pk for i in world["images"] if i.gallery_id == world["galleries"][1].pk]
    assert above == [] and len(below) == 5 and set(below) <= set(second)
    link = best_link(html)
    query = parse_qs(urlsplit(link).query)
    assert query["mode"] == ["topk"] and query["q"] == ["red"] and query["galleries"] == ["second"]
    assert query["k"] == ["5"]
    best = client.get(link).content.decode()
    above, below = page_parts(best)
    assert len(above) == 5 and below == [] and "No confident match" not in best


def test_session_page_shows_the_closest_results_and_they_can_be_judged(cast, client_for, world):
    client = Client()
    client.force_login(cast.viewer)
    response = client.get("/search/", {"q": "red", "mode": "dynamic", "k": 4})
    assert response.status_code == 302
    html = client.get(response["Location"]).content.decode()
    assert "No confident match" in html and "Closest results (below the cutoff)" in html
    above, below = page_parts(html)
    assert above == [] and len(below) == 4
    assert 'class="tile judgeable below-cutoff' in html
    best = client.get(best_link(html))
    assert best.status_code == 302  # a new session, in top-k mode, with results
    session = SearchSession.objects.order_by("-created_at").first()
    assert session.mode == "topk" and len(session.iterations.get().results) == 4

    first = SearchSession.objects.filter(mode="dynamic").get()
    api = client_for(cast.viewer)
    judged = api.post(
        f"/api/v1/search/sessions/{first.pk}/judgements/",
        {"image_id": below[0], "label": "relevant"},
        format="json",
    )
    assert judged.status_code == 201, judged.content
    assert judged.json()["rank"] == 1 and judged.json()["iteration"] == 0
    never_shown = world["images"][-1].pk  # the 13th closest: not among the 4 shown
    refused = api.post(
        f"/api/v1/search/sessions/{first.pk}/judgements/",
        {"image_id": never_shown, "label": "relevant"},
        format="json",
    )
    assert refused.status_code == 400


def test_a_refinement_iteration_falls_back_the_same_way(cast, client_for, world):
    api = client_for(cast.viewer)
    body = post(api, mode="static", k=6)
    session = body["session"]
    first = api.get(f"/api/v1/search/sessions/{session}/iterations/0/").json()
    assert first["results"] == [] and first["notice"] == NOTICE
    assert [r["image"]["id"] for r in first["closest"]] == [
        r["image"]["id"] for r in body["closest"]
    ]
    assert all(r["below_cutoff"] for r in first["closest"])
    marked = first["closest"][1]["image"]["id"]
    api.post(
        f"/api/v1/search/sessions/{session}/judgements/",
        {"image_id": marked, "label": "relevant"},
        format="json",
    )
    refined = api.post(
        f"/api/v1/search/sessions/{session}/refine/", {"judged": "hide"}, format="json"
    )
    assert refined.status_code == 201, refined.content
    refined = refined.json()
    assert refined["number"] == 1 and refined["results"] == [] and refined["notice"] == NOTICE
    ids = [r["image"]["id"] for r in refined["closest"]]
    assert len(ids) == 6 and marked not in ids  # judged and hidden: never shown again
    assert world["secret"].pk not in ids
    scores = [r["score"] for r in refined["closest"]]
    assert scores == sorted(scores, reverse=True)


def test_best_matches_of_an_uploaded_example_keep_the_picture(cast, world):
    for gallery in world["galleries"]:
        gallery.visibility = "public"
        gallery.save()
    client = Client()
    upload_file = SimpleUploadedFile("q.png", png_bytes((240, 0, 0)), content_type="image/png")
    response = client.post("/search/", {"image": upload_file, "mode": "static", "k": 3})
    html = response.content.decode()
    assert response.status_code == 200 and "No confident match" in html
    closest = page_parts(html)[1]
    assert len(closest) == 3
    link = best_link(html)
    query = parse_qs(urlsplit(link).query)
    assert query["mode"] == ["topk"] and len(query["example"][0]) > 10
    best = client.get(link).content.decode()
    above, below = page_parts(best)
    assert above[:3] == closest and below == []  # the same picture, now the best k
    assert 'data-testid="uploaded-example"' in best
    # The token is this browser session's: anyone else gets a clear error, not the picture.
    stranger = Client().get(link)
    assert stranger.status_code == 400 and "no longer kept" in stranger.content.decode()
