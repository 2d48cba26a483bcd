"""Fitting a model's cutoffs: from the judgement log (F1 on the marks) and from its collection.

Marks are written as the feedback services store them (a session, its
iteration, a judgement with the score the image was shown with), with scores
whose best cutoff is known.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.utils import timezone

from feedback.models import Judgement, SearchIteration, SearchSession
from indexing.encoders.fake import FakeEncoder
from search.cutoff_fit import (
    collection_fit_due,
    cutoffs_fit_from_collection,
    cutoffs_fit_from_judgements,
)
from search.cutoff_models import CutoffCalibration
from search.cutoffs import cutoff_parameters, gallery_cutoff_overrides_set
from search.models import GalleryStatistics
from search.statistics import thresholds_for
from search.tasks import fit_cutoffs_from_judgements, refresh_cutoff_calibrations
from search.thresholds import distance_from_similarity
from tests.factories import GalleryFactory, png_bytes, upload

pytestmark = pytest.mark.django_db

MODEL = FakeEncoder.name
OTHER = "fake:colour-v2"


@pytest.fixture(autouse=True)
def defaults(settings):  # type: ignore[no-untyped-def]
    settings.CBIR_THRESHOLD_STATIC_IMAGE = 1.01
    settings.CBIR_THRESHOLD_STATIC_TEXT = 1.0
    settings.CBIR_THRESHOLD_WEIGHT = 1.1
    settings.CBIR_THRESHOLD_NEIGHBOURS = 5
    settings.CBIR_CUTOFF_FIT_MIN_MARKS = 30
    cache.clear()


def images(gallery, count):  # type: ignore[no-untyped-def]
    return [upload(gallery, png_bytes((10 * i, 0, 0)), name=f"{i}.png") for i in range(count)]


def mark(user, image, score, label, *, text="red", model=MODEL, composition="sum"):  # type: ignore[no-untyped-def]
    """One session with one judged image (text query, or an image query when text is empty)."""
    session = SearchSession.objects.create(
        user=user,
        model_name=model,
        query_text=text,
        example_image_ids=[] if text else [image.pk],
        gallery_ids=[image.gallery_id],
        mode="static",
        composition=composition,
    )
    iteration = SearchIteration.objects.create(
        session=session,
        number=0,
        kind="initial",
        query_vector=np.ones(16) / 4,
        results=[[image.pk, 1, score]],
        mode="static",
    )
    return Judgement.objects.create(
        session=session,
        iteration=iteration,
        image=image,
        user=user,
        label=label,
        rank=1,
        score=score,
    )


def separable(user, pictures, relevant, not_relevant, **kwargs):  # type: ignore[no-untyped-def]
    """`relevant` marks scoring 0.80-0.89, `not_relevant` ones 0.20-0.39: any cutoff between
    the worst relevant and the best not relevant distance gives F1 = 1."""
    for n in range(relevant):
        mark(user, pictures[n % len(pictures)], 0.89 - 0.09 * n / relevant, "relevant", **kwargs)
    for n in range(not_relevant):
        mark(
            user,
            pictures[n % len(pictures)],
            0.2 + 0.19 * n / not_relevant,
            "not_relevant",
            **kwargs,
        )


def calibration(parameter, source="fitted_judgements", model=MODEL):  # type: ignore[no-untyped-def]
    return CutoffCalibration.objects.filter(
        model_name=model, parameter=parameter, source=source
    ).first()


# ---------------------------------------------------------------- the judgement log


def test_enough_text_marks_fit_the_text_threshold_and_its_source(cast):
    separable(cast.viewer, images(cast.gallery, 5), 15, 20)
    assert cutoffs_fit_from_judgements(model_name=MODEL) == ["static_text"]
    row = calibration("static_text")
    worst_relevant, best_not = 0.89 - 0.09 * 14 / 15, 0.2 + 0.19 * 19 / 20
    # The smallest T of the grid that keeps every relevant mark (a hit needs d < T).
    assert distance_from_similarity(worst_relevant) < row.value
    assert row.value <= distance_from_similarity(worst_relevant) + 0.0025
    assert row.value < distance_from_similarity(best_not)
    assert row.score == pytest.approx(1.0) and row.sample_size == 35
    assert row.detail["relevant"] == 15 and row.detail["not_relevant"] == 20
    resolved = cutoff_parameters(model_name=MODEL)
    assert resolved["static_text"].source == "fitted_judgements"
    assert resolved["static_text"].value == pytest.approx(row.value)
    assert resolved["static_image"].source == "default"  # no image marks
    used = thresholds_for([cast.gallery], model_name=MODEL, kind="text", dynamic=False)
    assert used[cast.gallery.pk].distance == pytest.approx(row.value)


def test_below_the_minimum_nothing_is_fitted(cast):
    pictures = images(cast.gallery, 5)
    separable(cast.viewer, pictures, 10, 19)  # 29 marks
    assert cutoffs_fit_from_judgements(model_name=MODEL) == []
    # Plenty of marks, but (nearly) all of one label: no F1 worth maximising.
    separable(cast.viewer, pictures, 0, 40, model=OTHER)
    assert cutoffs_fit_from_judgements(model_name=OTHER) == []
    separable(cast.viewer, pictures, 4, 0, model=OTHER)
    assert cutoffs_fit_from_judgements(model_name=OTHER) == []
    assert not CutoffCalibration.objects.exists()
    assert cutoff_parameters(model_name=MODEL)["static_text"].source == "default"


def test_withdrawn_marks_two_phase_scores_and_other_models_do_not_count(cast):
    pictures = images(cast.gallery, 5)
    separable(cast.viewer, pictures, 10, 15)  # 25 usable marks
    for judgement in list(Judgement.objects.all()[:5]):  # withdrawn: now 20
        Judgement.objects.create(
            session=judgement.session,
            iteration=judgement.iteration,
            image=judgement.image,
            user=judgement.user,
            label="withdrawn",
            rank=1,
            score=judgement.score,
        )
    separable(cast.viewer, pictures, 10, 10, composition="two_phase")  # fused scores
    separable(cast.viewer, pictures, 10, 10, model=OTHER)
    assert cutoffs_fit_from_judgements(model_name=MODEL) == []
    assert cutoffs_fit_from_judgements(model_name=OTHER) == []  # 20 marks: below 30 too
    separable(cast.viewer, pictures, 10, 10, model=OTHER)
    assert cutoffs_fit_from_judgements(model_name=OTHER) == ["static_text"]
    assert calibration("static_text") is None and calibration("static_text", model=OTHER)


def test_image_marks_in_several_galleries_fit_the_weight_too(cast):
    """Loose gallery A (m_g - M = +0.2): relevant at d 0.9, not at 1.2; tight B (-0.2):
    relevant at 0.5, not at 0.8. No single T separates them (0.9 > 0.8); T + w (m_g - M)
    does for 0.25 < w < 1.75."""
    loose, tight = cast.gallery, GalleryFactory(slug="tight", owner=cast.owner)
    now = timezone.now()
    for gallery, m_g in ((loose, 0.7), (tight, 0.3)):
        GalleryStatistics.objects.create(
            gallery=gallery,
            model_name=MODEL,
            neighbours=5,
            image_count=30,
            sampled=30,
            mean_distance=m_g,
            global_mean=0.5,
            computed_at=now,
            thresholds_at=now,
        )
    similarity = {d: 1 - d * d / 2 for d in (0.9, 1.2, 0.5, 0.8)}
    for gallery, rel, non in ((loose, 0.9, 1.2), (tight, 0.5, 0.8)):
        pictures = images(gallery, 4)
        for n in range(10):
            mark(cast.viewer, pictures[n % 4], similarity[rel], "relevant", text="")
            mark(cast.viewer, pictures[n % 4], similarity[non], "not_relevant", text="")
    assert cutoffs_fit_from_judgements(model_name=MODEL) == ["static_image", "weight"]
    weight, static = calibration("weight"), calibration("static_image")
    assert 0.25 < weight.value < 1.75 and weight.score == pytest.approx(1.0)
    assert static.detail["weight"] == weight.value
    resolved = cutoff_parameters(model_name=MODEL)
    assert resolved["weight"].source == resolved["static_image"].source == "fitted_judgements"
    cut = thresholds_for([loose, tight], model_name=MODEL, kind="image", dynamic=True)
    assert 0.9 < cut[loose.pk].distance < 1.2 and 0.5 < cut[tight.pk].distance < 0.8


def test_a_managers_override_still_wins_over_a_judgement_fit(cast):
    separable(cast.viewer, images(cast.gallery, 5), 15, 20)
    gallery_cutoff_overrides_set(gallery=cast.gallery, model_name=MODEL, values={"static_text": 2})
    cutoffs_fit_from_judgements(model_name=MODEL)
    resolved = cutoff_parameters(model_name=MODEL, gallery=cast.gallery)["static_text"]
    assert (resolved.value, resolved.source) == (2.0, "override")


def test_the_task_fits_and_the_periodic_refresh_only_queues_when_the_log_grew(cast, broker):
    pictures = images(cast.gallery, 5)
    separable(cast.viewer, pictures, 15, 20)
    assert fit_cutoffs_from_judgements(MODEL) == ["static_text"]

    def queued() -> list[str]:
        raw = broker.lrange(django_settings.CBIR_MAINTENANCE_QUEUE, 0, -1)
        return sorted(json.loads(m)["headers"]["argsrepr"] for m in raw)

    assert refresh_cutoff_calibrations() == {MODEL: ["judgements"]}
    assert queued() == [f"('{MODEL}',)"]
    assert refresh_cutoff_calibrations() == {}  # nothing new: nothing queued, no fit run
    mark(cast.viewer, pictures[0], 0.85, "relevant")
    assert refresh_cutoff_calibrations() == {MODEL: ["judgements"]}


# ---------------------------------------------------------------- the collection


def statistics(cast, model_name, means, count=60):  # type: ignore[no-untyped-def]
    now = timezone.now()
    for n, m_g in enumerate(means):
        gallery = GalleryFactory(slug=f"g{n}-{model_name[-2:]}", owner=cast.owner)
        GalleryStatistics.objects.create(
            gallery=gallery,
            model_name=model_name,
            neighbours=5,
            image_count=count,
            sampled=count,
            mean_distance=m_g,
            global_mean=float(np.mean(means)),
            computed_at=now,
            thresholds_at=now,
        )


def test_a_model_without_fits_gets_its_image_threshold_from_its_collection(cast):
    statistics(cast, OTHER, [0.30, 0.40])  # M = 0.35 under this model, 0.467 for the defaults
    assert collection_fit_due(model_name=OTHER)
    assert cutoffs_fit_from_collection(model_name=OTHER) == ["static_image"]
    row = calibration("static_image", "fitted_collection", OTHER)
    assert row.value == pytest.approx(1.01 + 1.1 * (0.35 - 0.467))
    assert row.sample_size == 120 and row.detail["global_mean"] == pytest.approx(0.35)
    resolved = cutoff_parameters(model_name=OTHER)
    assert resolved["static_image"].source == "fitted_collection"
    assert {resolved[n].source for n in ("static_text", "weight", "neighbours")} == {"default"}
    assert cutoff_parameters(model_name=MODEL)["static_image"].source == "default"
    assert not collection_fit_due(model_name=OTHER)  # done, until the collection changes


def test_a_small_collection_is_not_fitted(cast):
    statistics(cast, OTHER, [0.3], count=99)
    assert not collection_fit_due(model_name=OTHER)
    assert cutoffs_fit_from_collection(model_name=OTHER) == []
    assert cutoff_parameters(model_name=OTHER)["static_image"].source == "default"


def test_judgements_win_over_the_collection_fit(cast):
    statistics(cast, MODEL, [0.30, 0.40])
    cutoffs_fit_from_collection(model_name=MODEL)
    gallery = GalleryStatistics.objects.filter(model_name=MODEL).first().gallery
    pictures = images(gallery, 5)
    separable(cast.owner, pictures, 15, 20, text="")
    assert "static_image" in cutoffs_fit_from_judgements(model_name=MODEL)
    assert cutoff_parameters(model_name=MODEL)["static_image"].source == "fitted_judgements"
    assert calibration("static_image", "fitted_collection") is not None  # kept, shown in admin
