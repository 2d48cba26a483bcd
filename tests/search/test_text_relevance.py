"""expected_f1's relevance model: the query's own score distribution from the model's score
statistics, its parameters per model, and their fit on the judgement log (fake colour encoder).
"""

from __future__ import annotations

import numpy as np
import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from cbir_site.errors import InvalidInputError
from feedback.models import Judgement, SearchIteration, SearchSession
from indexing.embedding import images_embed
from indexing.encoders.fake import FakeEncoder
from indexing.model_models import ManagedModel
from indexing.models import Embedding
from search.config import search_config
from search.cutoff_fit import (
    JUDGED_OWN_WEIGHT,
    _bank_z,
    cutoffs_fit_from_judgements,
    text_calibration_fit,
    text_marks,
)
from search.cutoff_models import CutoffCalibration, ModelScoreStatistics
from search.cutoffs import cutoff_parameters, gallery_cutoff_overrides_set
from search.model_prune import models_prune
from search.request import Mode, SearchRequest
from search.score_statistics import MIN_IMAGES, score_statistics, score_statistics_refresh
from search.services import search_images
from search.statistics import gallery_statistics_update
from search.text_cut_methods import (
    best_f1_cut,
    expected_f1_cut,
    fit_relevance_centre,
    own_z,
    own_z_rows,
    relevance_logits,
)
from search.text_cutoff import relevance_logits_for, relevance_model
from tests.factories import GalleryFactory, UserFactory, png_bytes, upload

MODEL = FakeEncoder.name
OTHER = "fake:colour-v2"

# Reds (relevant to "red") and a spread of other colours: more than MIN_IMAGES in all.
REDS = [(250, 0, 0), (245, 5, 5), (240, 10, 10), (235, 12, 12), (230, 20, 20), (225, 25, 15)]
OTHERS = [
    (10, 240, 10), (10, 10, 240), (240, 240, 240), (20, 200, 200), (200, 200, 20),
    (30, 30, 30), (120, 120, 120), (0, 128, 255), (128, 0, 255), (255, 128, 0),
    (0, 255, 128), (60, 90, 30), (90, 30, 60), (200, 150, 100), (100, 150, 200),
    (150, 200, 100), (255, 200, 220), (40, 60, 80),
]  # fmt: skip


# ---------------------------------------------------------------- pure


def test_own_z_is_the_z_against_the_querys_scores_over_the_collection():
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((400, 8))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    query = vectors[0] + 0.5 * vectors[1]
    scores = vectors @ query
    expected = (scores - scores.mean()) / scores.std()
    got = own_z(scores, query, vectors.mean(axis=0), np.cov(vectors.T, bias=True))
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    # Many (score, query) pairs at once: each against its own query's distribution.
    mean, covariance = vectors.mean(axis=0), np.cov(vectors.T, bias=True)
    queries = vectors[:5] * 2.0
    rows = own_z_rows(scores[:5], queries, mean, covariance)
    for i in range(5):
        assert rows[i] == pytest.approx(own_z(scores[i : i + 1], queries[i], mean, covariance)[0])


def test_the_fitted_centre_recovers_the_rate_that_drew_the_marks():
    rng = np.random.default_rng(7)
    features = rng.normal(0.0, 2.0, 20_000)
    for centre in (-1.0, 3.0):
        relevant = rng.random(len(features)) < 1 / (1 + np.exp(-(features - centre)))
        assert fit_relevance_centre(features, relevant) == pytest.approx(centre, abs=0.15)


def test_more_relevant_marks_mean_a_lower_centre_and_one_label_is_refused():
    features = np.linspace(-3, 3, 60)
    few = features > 2.0
    many = features > 0.0
    assert fit_relevance_centre(features, many) < fit_relevance_centre(features, few)
    with pytest.raises(ValueError, match="relevant and not-relevant"):
        fit_relevance_centre(features, np.ones(60, dtype=bool))


def test_the_logits_weigh_both_scores_and_need_the_own_one_when_it_has_a_weight():
    z_bank, z_own = np.array([1.0, 2.0]), np.array([4.0, -2.0])
    got = relevance_logits(z_bank, z_own, centre=3.0, bank_weight=0.5, own_weight=0.25)
    np.testing.assert_allclose(got, [0.5 + 1.0 - 3.0, 1.0 - 0.5 - 3.0])
    np.testing.assert_allclose(relevance_logits(z_bank, None, centre=5.0), z_bank - 5.0)
    with pytest.raises(ValueError, match="z_own"):
        relevance_logits(z_bank, None, centre=0.0, own_weight=1.0)


def test_the_best_f1_cut_falls_between_values_and_prefers_the_stricter_tie():
    values = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    cut, f1 = best_f1_cut(values, np.array([True, True, False, False, False]))
    assert cut == pytest.approx(3.5) and f1 == pytest.approx(1.0)
    # Equal values are kept or dropped together.
    cut, _ = best_f1_cut(np.array([2.0, 2.0, 1.0]), np.array([True, False, False]))
    assert cut == pytest.approx(1.5)
    # Keeping one (F1 2/3) or all four (F1 2/3): the stricter one.
    cut, f1 = best_f1_cut(np.array([4.0, 3.0, 2.0, 1.0]), np.array([True, False, False, True]))
    assert cut == pytest.approx(3.5) and f1 == pytest.approx(2 / 3)


# ---------------------------------------------------------------- with the database


@pytest.fixture
def world(cast, settings):  # type: ignore[no-untyped-def]
    settings.CBIR_THRESHOLD_MIN_IMAGES = 3
    settings.CBIR_THRESHOLD_NEIGHBOURS = 2
    settings.CBIR_CUTOFF_FIT_MIN_MARKS = 30
    cache.clear()
    colours = REDS + OTHERS
    images = [upload(cast.gallery, png_bytes(c), name=f"c{n}.png") for n, c in enumerate(colours)]
    images_embed(image_ids=[i.pk for i in images], encoder=FakeEncoder())
    gallery_statistics_update(gallery_id=cast.gallery.pk, model_name=MODEL)
    return images


def stored_vectors(gallery_id: int) -> np.ndarray:
    rows = Embedding.objects.filter(model_name=MODEL, gallery_id=gallery_id).order_by("id")
    return np.stack([np.asarray(r.vector, dtype=np.float64) for r in rows])


@pytest.mark.django_db
def test_score_statistics_are_the_mean_and_covariance_of_the_stored_vectors(cast, world):  # type: ignore[no-untyped-def]
    stats = score_statistics_refresh(model_name=MODEL)
    vectors = stored_vectors(cast.gallery.pk)
    assert stats is not None and stats.image_count == len(vectors) == len(world)
    np.testing.assert_allclose(stats.mean, vectors.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(stats.covariance, np.cov(vectors.T, bias=True), atol=1e-6)
    assert score_statistics(model_name=OTHER) is None  # per model
    # Over some galleries only: their vectors alone.
    other = GalleryFactory(slug="elsewhere", owner=cast.owner)
    extra = [upload(other, png_bytes((9 * n, 90, 200)), name=f"e{n}.png") for n in range(3)]
    images_embed(image_ids=[i.pk for i in extra], encoder=FakeEncoder())
    assert score_statistics_refresh(model_name=MODEL).image_count == len(world) + 3
    only = score_statistics_refresh(model_name=MODEL, gallery_ids=[cast.gallery.pk])
    np.testing.assert_allclose(only.mean, vectors.mean(axis=0), atol=1e-6)
    # A later computation replaces the one kept in memory.
    Embedding.objects.filter(image_id__in=[i.pk for i in world[:4]]).delete()
    score_statistics_refresh(model_name=MODEL)
    assert score_statistics(model_name=MODEL).image_count == len(world) - 4 + len(extra)


@pytest.mark.django_db
def test_a_collection_below_the_minimum_keeps_no_score_statistics(world):  # type: ignore[no-untyped-def]
    score_statistics_refresh(model_name=MODEL)
    keep = MIN_IMAGES - 1
    Embedding.objects.filter(image_id__in=[i.pk for i in world[keep:]]).delete()
    assert score_statistics_refresh(model_name=MODEL) is None
    assert not ModelScoreStatistics.objects.filter(model_name=MODEL).exists()


def f1(kept: np.ndarray, relevant: np.ndarray) -> float:
    hits = int((kept & relevant).sum())
    return 2 * hits / (int(kept.sum()) + int(relevant.sum()))


def judge(user, world, *, sessions: int = 3, model: str = MODEL) -> None:  # type: ignore[no-untyped-def]
    """`sessions` searches for "red" in which every image was marked, reds relevant."""
    query = FakeEncoder().encode_texts(["red"])[0]
    by_image = {
        r.image_id: np.asarray(r.vector) for r in Embedding.objects.filter(model_name=MODEL)
    }
    reds = {i.pk for i in world[: len(REDS)]}
    for _ in range(sessions):
        session = SearchSession.objects.create(
            user=user, model_name=model, query_text="red", gallery_ids=[world[0].gallery_id],
            mode="auto",
        )  # fmt: skip
        scores = {i.pk: float(by_image[i.pk] @ query) for i in world}
        iteration = SearchIteration.objects.create(
            session=session, number=0, kind="initial", query_vector=query,
            results=[[i, n + 1, s] for n, (i, s) in enumerate(scores.items())], mode="auto",
        )  # fmt: skip
        for rank, image in enumerate(world, start=1):
            Judgement.objects.create(
                session=session, iteration=iteration, image=image, user=user, rank=rank,
                label="relevant" if image.pk in reds else "not_relevant", score=scores[image.pk],
            )  # fmt: skip


@pytest.mark.django_db
def test_text_marks_fit_the_relevance_model_of_their_model_only(cast, world):  # type: ignore[no-untyped-def]
    judge(cast.viewer, world)
    marks = text_marks(model_name=MODEL)
    assert len(marks) == 3 * len(world) and marks.vectors.shape == (len(marks), 16)
    changed = cutoffs_fit_from_judgements(model_name=MODEL)
    assert {"text_f1_centre", "text_f1_own_weight", "text_f1_bank_weight", "qbnorm_z"} <= set(
        changed
    )
    resolved = cutoff_parameters(model_name=MODEL)
    for name in ("text_f1_centre", "text_f1_own_weight", "text_f1_bank_weight", "qbnorm_z"):
        assert resolved[name].source == "fitted_judgements", name
        assert resolved[name].sample_size == len(marks)
    assert resolved["text_f1_own_weight"].value == JUDGED_OWN_WEIGHT
    # The centre is the maximum-likelihood one for these marks under the judged shape.
    stats = score_statistics(model_name=MODEL)
    z = np.concatenate(
        [stats.own_z(marks.scores[i : i + 1], marks.vectors[i]) for i in range(len(marks))]
    )
    expected = fit_relevance_centre(JUDGED_OWN_WEIGHT * z, marks.relevant)
    assert resolved["text_f1_centre"].value == pytest.approx(expected)
    # qbnorm's z: the cut with the best F1 over the marks' query-bank z.
    row = CutoffCalibration.objects.get(model_name=MODEL, parameter="qbnorm_z")
    z_bank = _bank_z(MODEL, marks)
    assert f1(z_bank > row.value, marks.relevant) == pytest.approx(row.score)
    cuts = np.sort(z_bank)
    best = max(f1(z_bank > t, marks.relevant) for t in (cuts[:-1] + cuts[1:]) / 2)
    assert row.score == pytest.approx(best)
    # Another model's values are untouched.
    other = cutoff_parameters(model_name=OTHER)
    assert {other[n].source for n in ("text_f1_centre", "qbnorm_z")} == {"default"}


@pytest.mark.django_db
def test_too_few_text_marks_fit_nothing(cast, world):  # type: ignore[no-untyped-def]
    judge(cast.viewer, world[:4] + world[len(REDS) : len(REDS) + 8], sessions=2)  # 24 marks
    assert text_calibration_fit(model_name=MODEL, marks=text_marks(model_name=MODEL)) == []
    assert not CutoffCalibration.objects.filter(parameter__startswith="text_f1").exists()


def ranked_red(user) -> list[tuple[int, float]]:  # type: ignore[no-untyped-def]
    return search_images(user=user, request=SearchRequest(mode=Mode.TOPK, k=50, text="red")).ranked


def auto_red(user) -> list[int]:  # type: ignore[no-untyped-def]
    result = search_images(
        user=user, request=SearchRequest(mode=Mode.AUTO, text="red", text_cutoff="expected_f1")
    )
    assert {t.source for t in result.thresholds} == {"expected_f1"}
    return [i for i, _ in result.ranked]


@pytest.mark.django_db
def test_a_search_cuts_with_its_models_fitted_relevance_model(cast, world, client_for):  # type: ignore[no-untyped-def]
    before = auto_red(cast.viewer)
    judge(cast.viewer, world)
    cutoffs_fit_from_judgements(model_name=MODEL)
    ranked = ranked_red(cast.viewer)
    scores = np.asarray([s for _, s in ranked])
    query = FakeEncoder().encode_texts(["red"])[0]
    stats = score_statistics(model_name=MODEL)
    centre = float(cutoff_parameters(model_name=MODEL)["text_f1_centre"].value)
    count = expected_f1_cut(scores, JUDGED_OWN_WEIGHT * stats.own_z(scores, query) - centre)
    after = auto_red(cast.viewer)
    assert after == [i for i, _ in ranked[:count]]
    # The response names the values that decided the cut, and where each came from.
    body = client_for(cast.viewer).post("/api/v1/search/", {"text": "red"}, format="json").json()
    (threshold,) = body["thresholds"]
    assert threshold["source"] == "expected_f1"
    assert threshold["parameters"]["text_f1_centre"] == {
        "value": centre,
        "source": "fitted_judgements",
    }
    assert set(threshold["parameters"]) == {
        "text_f1_centre",
        "text_f1_bank_weight",
        "text_f1_own_weight",
    }
    assert {i.pk for i in world[: len(REDS)]} <= set(after)  # the reds, ranked first, stay
    assert before != after  # the label-free default cut elsewhere
    # A value fitted or set for another model never reaches this model's searches.
    CutoffCalibration.objects.create(
        model_name=OTHER, parameter="text_f1_centre", value=-9.0, source="fitted_judgements",
        sample_size=100, fitted_at=stats.computed_at,
    )  # fmt: skip
    assert auto_red(cast.viewer) == after


@pytest.mark.django_db
def test_without_score_statistics_the_label_free_default_serves(cast, world):  # type: ignore[no-untyped-def]
    default = auto_red(cast.viewer)
    judge(cast.viewer, world)
    cutoffs_fit_from_judgements(model_name=MODEL)
    ModelScoreStatistics.objects.all().delete()
    assert auto_red(cast.viewer) == default
    scores = np.asarray([s for _, s in ranked_red(cast.viewer)])
    used, statistics = relevance_model(MODEL)
    assert statistics is None and {v.source for v in used.values()} == {"default"}
    logits = relevance_logits_for(used, statistics, scores, np.zeros(len(scores)), np.zeros(16))
    centre = search_config().text_f1_centre
    np.testing.assert_allclose(logits, -centre)  # bank z 0, no own term


@pytest.mark.django_db
def test_the_text_calibration_is_one_value_per_model_not_per_gallery(cast):  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInputError, match="one value per model"):
        gallery_cutoff_overrides_set(
            gallery=cast.gallery, model_name=MODEL, values={"text_f1_centre": 2.0}
        )


@pytest.mark.django_db
def test_pruning_a_model_removes_its_score_statistics(cast, world):  # type: ignore[no-untyped-def]
    score_statistics_refresh(model_name=MODEL)
    ModelScoreStatistics.objects.create(
        model_name=OTHER, image_count=30, dimension=1, mean=b"\0" * 4, covariance=b"\0" * 4,
        computed_at=score_statistics(model_name=MODEL).computed_at,
    )  # fmt: skip
    ManagedModel.objects.create(key="retired-colour", model_name=OTHER, role="retired")
    models_prune(keys=["retired-colour"])
    assert list(ModelScoreStatistics.objects.values_list("model_name", flat=True)) == [MODEL]


@pytest.mark.django_db
def test_staff_see_when_each_models_score_statistics_were_computed(cast, world):  # type: ignore[no-untyped-def]
    score_statistics_refresh(model_name=MODEL)
    staff = UserFactory(username="staffer", is_staff=True)
    page = reverse("admin:search_modelscorestatistics_changelist")
    client = Client()
    client.force_login(staff)
    content = client.get(page).content.decode()
    assert MODEL in content and f">{len(world)}<" in content
    client.force_login(cast.viewer)
    assert client.get(page).status_code == 302  # not staff: to the login page
