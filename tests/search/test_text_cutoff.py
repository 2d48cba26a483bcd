"""Text queries' calibrated cutoffs: query-bank statistics stored by the worker and
backfilled, and the selected method deciding which images pass (fake colour encoder)."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.cache import cache
from django.core.management import call_command

from indexing.calibration import bank_statistics
from indexing.embedding import images_embed
from indexing.encoders.fake import FakeEncoder
from indexing.models import Embedding
from indexing.querybank_store import query_bank
from search.request import Mode, SearchRequest
from search.services import search_images
from search.statistics import gallery_statistics_update
from search.text_cut_methods import expected_f1_cut, z_scores
from tests.factories import GalleryFactory, png_bytes, upload

pytestmark = pytest.mark.django_db

# Eight reds in two shades (a clear gap between them), then other colours far from red.
REDS = [(250, 0, 0), (245, 5, 5), (240, 10, 10), (235, 12, 12)]
DULL_REDS = [(170, 60, 60), (165, 65, 65), (160, 70, 70), (155, 72, 72)]
OTHERS = [(10, 240, 10), (10, 10, 240), (240, 240, 240), (20, 200, 200), (200, 200, 20)]


@pytest.fixture(autouse=True)
def threshold_settings(settings):  # type: ignore[no-untyped-def]
    settings.CBIR_THRESHOLD_MIN_IMAGES = 3
    settings.CBIR_THRESHOLD_NEIGHBOURS = 2
    settings.CBIR_TEXT_CUTOFF_TOP_N = 50
    cache.clear()


@pytest.fixture
def world(cast):  # type: ignore[no-untyped-def]
    colours = REDS + DULL_REDS + OTHERS
    images = [upload(cast.gallery, png_bytes(c), name=f"c{n}.png") for n, c in enumerate(colours)]
    images_embed(image_ids=[i.pk for i in images], encoder=FakeEncoder())
    gallery_statistics_update(gallery_id=cast.gallery.pk, model_name=FakeEncoder.name)
    return images


def expected_statistics(image_ids: list[int]) -> dict[int, tuple[float, float]]:
    bank = query_bank(FakeEncoder())
    rows = Embedding.objects.filter(model_name=FakeEncoder.name, image_id__in=image_ids)
    vectors = {r.image_id: np.asarray(r.vector) for r in rows}
    means, spreads = bank_statistics(np.stack([vectors[i] for i in image_ids]), bank.vectors)
    return {i: (m, s) for i, m, s in zip(image_ids, means, spreads, strict=True)}


def post(client, **body):  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/search/", {"text": "red", "k": 50, **body}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def ids(body) -> list[int]:  # type: ignore[no-untyped-def]
    return [r["image"]["id"] for r in body["results"]]


def test_the_worker_stores_each_vectors_query_bank_statistics(world):  # type: ignore[no-untyped-def]
    image_ids = [i.pk for i in world]
    rows = {r.image_id: r for r in Embedding.objects.filter(image_id__in=image_ids)}
    expected = expected_statistics(image_ids)
    key = query_bank(FakeEncoder()).key
    for image_id, (mean, spread) in expected.items():
        assert rows[image_id].bank_key == key
        assert rows[image_id].bank_mean == pytest.approx(mean, abs=1e-6)
        assert rows[image_id].bank_spread == pytest.approx(spread, abs=1e-6)


def test_the_backfill_fills_rows_stored_without_statistics(world, use_encoder):  # type: ignore[no-untyped-def]
    use_encoder("fake")
    image_ids = [i.pk for i in world]
    stale = image_ids[:5]
    Embedding.objects.filter(image_id__in=stale[:3]).update(
        bank_mean=None, bank_spread=None, bank_key=""
    )
    Embedding.objects.filter(image_id__in=stale[3:]).update(bank_mean=0.0, bank_key="old-bank")
    untouched = Embedding.objects.get(image_id=image_ids[-1])
    call_command("cbir_querybank", batch_size=2)
    expected = expected_statistics(image_ids)
    key = query_bank(FakeEncoder()).key
    for row in Embedding.objects.filter(image_id__in=image_ids):
        assert row.bank_key == key
        assert row.bank_mean == pytest.approx(expected[row.image_id][0], abs=1e-6)
    assert Embedding.objects.get(pk=untouched.pk).bank_mean == untouched.bank_mean
    # Safe to run twice: nothing left to write.
    from indexing.querybank_store import querybank_backfill

    assert querybank_backfill(encoder=FakeEncoder()) == 0


def test_the_selected_method_decides_which_images_pass(cast, client_for, world, settings):  # type: ignore[no-untyped-def]
    client = client_for(cast.viewer)
    reds = {i.pk for i in world[:8]}
    yellow = world[12].pk  # the closest non-red to "red" under the colour encoder
    mixture = post(client, text_cutoff="mixture")
    autocut = post(client, text_cutoff="autocut")
    assert set(ids(mixture)) == reds
    assert set(ids(autocut)) == reds | {yellow}
    assert mixture["thresholds"][0]["source"] == "mixture"
    assert autocut["thresholds"][0]["source"] == "autocut"
    # The setting chooses when the request does not.
    settings.CBIR_TEXT_CUTOFF = "autocut"
    assert ids(post(client)) == ids(autocut)
    # qbnorm: the z cutoff decides; one no image reaches leaves only the closest results.
    settings.CBIR_TEXT_CUTOFF = "qbnorm"
    settings.CBIR_QBNORM_Z = 2.0
    assert set(ids(post(client))) == reds | {yellow}
    settings.CBIR_QBNORM_Z = 20.0
    strict = post(client)
    assert strict["results"] == [] and strict["thresholds"][0]["source"] == "qbnorm"
    assert {r["image"]["id"] for r in strict["closest"]} >= reds


@pytest.mark.parametrize("centre", [0.0, 5.0, 12.0])
def test_expected_f1_keeps_the_best_expected_f1_depth_of_the_ranking(  # type: ignore[no-untyped-def]
    cast, world, settings, centre
):
    settings.CBIR_TEXT_F1_CENTRE = centre
    ranked = search_images(
        user=cast.viewer, request=SearchRequest(mode=Mode.TOPK, k=50, text="red")
    ).ranked
    scores = np.asarray([s for _, s in ranked])
    stats = expected_statistics([i for i, _ in ranked])
    means, spreads = np.asarray([stats[i] for i, _ in ranked]).T
    count = expected_f1_cut(scores, z_scores(scores, means, spreads) - centre)
    result = search_images(
        user=cast.viewer,
        request=SearchRequest(mode=Mode.AUTO, text="red", text_cutoff="expected_f1"),
    )
    assert {t.source for t in result.thresholds} == {"expected_f1"}
    assert [i for i, _ in result.ranked] == [i for i, _ in ranked[:count]]
    assert count >= 1


def test_expected_f1_is_the_default_text_cutoff(monkeypatch):
    from django.conf import settings as django_settings

    from cbir_site.config import configs_clear
    from search.config import search_config

    monkeypatch.delenv("CBIR_TEXT_CUTOFF", raising=False)
    assert not hasattr(django_settings, "CBIR_TEXT_CUTOFF")  # a product knob, not Django's
    configs_clear()
    try:
        assert search_config().text_cutoff == "expected_f1"
    finally:
        configs_clear()


def test_image_queries_keep_the_image_statistic(cast, world, settings):  # type: ignore[no-untyped-def]
    settings.CBIR_TEXT_CUTOFF = "autocut"
    result = search_images(
        user=cast.viewer, request=SearchRequest(mode="auto", image_ids=[world[0].pk])
    )
    assert {t.source for t in result.thresholds} == {"dynamic"}


def test_a_text_querys_static_mode_is_not_calibrated(cast, world, settings):  # type: ignore[no-untyped-def]
    settings.CBIR_TEXT_CUTOFF = "autocut"
    result = search_images(user=cast.viewer, request=SearchRequest(mode="static", text="red"))
    assert {t.source for t in result.thresholds} == {"static"}


def test_an_unknown_method_is_refused(cast, client_for, world):  # type: ignore[no-untyped-def]
    response = client_for(cast.viewer).post(
        "/api/v1/search/", {"text": "red", "text_cutoff": "magic"}, format="json"
    )
    assert response.status_code == 400
    assert "text_cutoff" in response.content.decode()


def test_the_service_refuses_an_unknown_method(cast, world):  # type: ignore[no-untyped-def]
    from cbir_site.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="text_cutoff"):
        search_images(user=cast.viewer, request=SearchRequest(text="red", text_cutoff="magic"))


def test_an_outsider_never_sees_another_gallery_through_a_calibrated_cutoff(  # type: ignore[no-untyped-def]
    cast, client_for, world
):
    other = GalleryFactory(slug="others", owner=cast.outsider)
    secret = upload(other, png_bytes((255, 0, 0)), name="secret.png")
    images_embed(image_ids=[secret.pk], encoder=FakeEncoder())
    for method in ("expected_f1", "qbnorm", "autocut", "mixture"):
        body = post(client_for(cast.viewer), text_cutoff=method)
        seen = set(ids(body)) | {r["image"]["id"] for r in body["closest"]}
        assert secret.pk not in seen


def test_a_composed_query_gets_the_calibrated_cutoff(cast, world, settings):  # type: ignore[no-untyped-def]
    settings.CBIR_TEXT_CUTOFF = "mixture"
    result = search_images(
        user=cast.viewer, request=SearchRequest(mode="auto", text="red", image_ids=[world[0].pk])
    )
    assert "text" in result.query_kinds and len(result.query_kinds) == 2  # words + an example
    assert {t.source for t in result.thresholds} == {"mixture"}
