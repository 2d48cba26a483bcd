"""Cutoff parameters belong to a model: resolution order, no leaks, and a switch of models.

Two fake colour encoders with different model names embed the same gallery; a
search runs under whichever CBIR_ENCODER selects. Values fitted or overridden
for one model must never show in (or change) the other's searches.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.utils import timezone

from indexing.embedding import images_embed
from indexing.encoders.base import register
from indexing.encoders.fake import FakeEncoder
from indexing.runtime import reset_for_tests
from search.cutoff_models import CutoffCalibration, GalleryCutoffOverride
from search.cutoffs import (
    cutoff_parameters,
    cutoff_parameters_for,
    gallery_cutoff_overrides_set,
)
from search.request import SearchRequest
from search.services import search_images
from search.statistics import gallery_statistics_update, thresholds_for
from tests.factories import png_bytes, upload

pytestmark = pytest.mark.django_db

FIRST = FakeEncoder.name


class SecondEncoder(FakeEncoder):
    name = "fake:colour-v2"


SECOND = SecondEncoder.name
register("fake_second", model_name=lambda config: SECOND)(lambda config: SecondEncoder())

REDS = [(250 - 12 * i, 6 * i, 6 * i) for i in range(6)]


@pytest.fixture(autouse=True)
def threshold_settings(settings):  # type: ignore[no-untyped-def]
    settings.CBIR_THRESHOLD_MIN_IMAGES = 3
    settings.CBIR_THRESHOLD_NEIGHBOURS = 2
    settings.CBIR_THRESHOLD_STATIC_TEXT = 0.9
    settings.CBIR_THRESHOLD_STATIC_IMAGE = 0.8
    settings.CBIR_THRESHOLD_WEIGHT = 1.0
    settings.CBIR_TEXT_CUTOFF = "dynamic"  # the text calibration's own cutoffs are not tested here
    cache.clear()
    reset_for_tests()
    yield
    reset_for_tests()


@pytest.fixture
def both(cast):  # type: ignore[no-untyped-def]
    """The gallery's reds, embedded and with a statistic under both models."""
    images = [upload(cast.gallery, png_bytes(c), name=f"red{n}.png") for n, c in enumerate(REDS)]
    for encoder in (FakeEncoder(), SecondEncoder()):
        images_embed(image_ids=[i.pk for i in images], encoder=encoder)
        gallery_statistics_update(gallery_id=cast.gallery.pk, model_name=encoder.name)
    return images


def calibrate(model_name: str, parameter: str, value: float, source: str) -> None:
    CutoffCalibration.objects.update_or_create(
        model_name=model_name,
        parameter=parameter,
        source=source,
        defaults={"value": value, "sample_size": 40, "fitted_at": timezone.now()},
    )


def block(result):  # type: ignore[no-untyped-def]
    (used,) = result.thresholds
    return used.parameters


def test_without_fits_or_overrides_every_value_is_the_setting(cast):
    values = cutoff_parameters(model_name=FIRST, gallery=cast.gallery).values
    assert {n: (v.value, v.source) for n, v in values.items()} == {
        "static_image": (0.8, "default"),
        "static_text": (0.9, "default"),
        "weight": (1.0, "default"),
        "neighbours": (2, "default"),
        "text_f1_centre": (5.0, "default"),
        "text_f1_bank_weight": (1.0, "default"),
        "text_f1_own_weight": (0.0, "default"),
        "qbnorm_z": (2.0, "default"),
    }


def test_override_beats_judgements_beat_collection_beat_default(cast):
    calibrate(FIRST, "static_image", 0.7, "fitted_collection")
    assert cutoff_parameters(model_name=FIRST)["static_image"].source == "fitted_collection"
    calibrate(FIRST, "static_image", 0.6, "fitted_judgements")
    resolved = cutoff_parameters(model_name=FIRST)["static_image"]
    assert (resolved.value, resolved.source, resolved.sample_size) == (0.6, "fitted_judgements", 40)
    gallery_cutoff_overrides_set(
        gallery=cast.gallery, model_name=FIRST, values={"static_image": 1.5}
    )
    resolved = cutoff_parameters(model_name=FIRST, gallery=cast.gallery)["static_image"]
    assert (resolved.value, resolved.source) == (1.5, "override")
    # Without the gallery (the model's own value), and for another gallery: not the override.
    assert cutoff_parameters(model_name=FIRST)["static_image"].value == 0.6


def test_removing_an_override_gives_back_the_models_value(cast):
    gallery_cutoff_overrides_set(gallery=cast.gallery, model_name=FIRST, values={"weight": 3})
    changed = gallery_cutoff_overrides_set(
        gallery=cast.gallery, model_name=FIRST, values={"weight": None}
    )
    assert changed == ["weight"] and not GalleryCutoffOverride.objects.exists()
    assert cutoff_parameters(model_name=FIRST, gallery=cast.gallery)["weight"].source == "default"


def test_an_out_of_range_override_is_refused_and_nothing_is_written(cast):
    from cbir_site.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="static_text"):
        gallery_cutoff_overrides_set(
            gallery=cast.gallery, model_name=FIRST, values={"weight": 2, "static_text": 2.5}
        )
    with pytest.raises(InvalidInputError, match="Unknown"):
        gallery_cutoff_overrides_set(gallery=cast.gallery, model_name=FIRST, values={"t": 1})
    assert not GalleryCutoffOverride.objects.exists()


def test_a_second_models_values_never_reach_the_firsts_thresholds(cast, both):
    calibrate(SECOND, "static_text", 0.1, "fitted_judgements")
    calibrate(SECOND, "weight", 7.0, "fitted_collection")
    gallery_cutoff_overrides_set(
        gallery=cast.gallery, model_name=SECOND, values={"static_image": 0.05, "neighbours": 4}
    )
    for kind, static in (("text", 0.9), ("image", 0.8)):
        first = thresholds_for([cast.gallery], model_name=FIRST, kind=kind, dynamic=False)
        used = first[cast.gallery.pk]
        assert used.distance == pytest.approx(static)
        assert {n: v.source for n, v in used.parameters.items()} == dict.fromkeys(
            ("static", "weight", "neighbours"), "default"
        )
    resolved = cutoff_parameters_for(model_name=FIRST, galleries=[cast.gallery])[cast.gallery.pk]
    assert resolved.threshold_params("image").neighbours == 2


def test_a_second_models_values_never_reach_the_firsts_searches(cast, both):
    before = search_images(user=cast.viewer, request=SearchRequest(text="red", mode="static", k=50))
    calibrate(SECOND, "static_text", 0.0, "fitted_judgements")  # nothing could pass under it
    gallery_cutoff_overrides_set(gallery=cast.gallery, model_name=SECOND, values={"weight": 0})
    after = search_images(user=cast.viewer, request=SearchRequest(text="red", mode="static", k=50))
    assert after.model_name == FIRST and after.total == before.total == len(REDS)
    assert block(after)["static"] == {"value": 0.9, "source": "default"}
    assert block(after)["weight"] == {"value": 1.0, "source": "default"}


def test_a_switch_of_models_leaves_each_with_its_own_cutoffs(cast, both, use_encoder):
    calibrate(FIRST, "static_text", 1.2, "fitted_judgements")
    calibrate(SECOND, "static_text", 0.0, "fitted_judgements")
    gallery_cutoff_overrides_set(gallery=cast.gallery, model_name=SECOND, values={"weight": 0.5})

    first = search_images(user=cast.viewer, request=SearchRequest(text="red", mode="static", k=50))
    assert first.model_name == FIRST and first.total == len(REDS)
    assert block(first)["static"] == {"value": 1.2, "source": "fitted_judgements"}
    assert block(first)["weight"]["source"] == "default"

    use_encoder("fake_second")
    second = search_images(user=cast.viewer, request=SearchRequest(text="red", mode="static", k=50))
    assert second.model_name == SECOND and second.total == 0  # its own, strict, cutoff
    assert block(second)["static"] == {"value": 0.0, "source": "fitted_judgements"}
    assert block(second)["weight"] == {"value": 0.5, "source": "override"}
    dynamic = search_images(
        user=cast.viewer, request=SearchRequest(image_ids=[both[0].pk], mode="dynamic", k=50)
    )
    assert block(dynamic)["weight"] == {"value": 0.5, "source": "override"}

    use_encoder("fake")  # and back: the first model's values are as they were
    again = search_images(user=cast.viewer, request=SearchRequest(text="red", mode="static", k=50))
    assert again.model_name == FIRST and again.total == len(REDS)
    assert block(again) == block(first)


def test_the_stored_thresholds_of_each_model_use_its_own_parameters(cast, both):
    from search.models import GalleryStatistics

    gallery_cutoff_overrides_set(gallery=cast.gallery, model_name=SECOND, values={"weight": 0})
    calibrate(SECOND, "static_image", 0.3, "fitted_judgements")
    for model_name in (FIRST, SECOND):
        gallery_statistics_update(gallery_id=cast.gallery.pk, model_name=model_name)
    rows = {r.model_name: r for r in GalleryStatistics.objects.filter(gallery=cast.gallery)}
    assert rows[SECOND].threshold_image == pytest.approx(0.3)  # 0.3 + 0 * (m_g - M)
    assert rows[FIRST].threshold_image == pytest.approx(0.8)  # one gallery: m_g = M


def test_the_data_migration_gives_old_gallery_overrides_to_each_model_they_applied_to(cast, both):
    import importlib

    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    from galleries.models import Gallery
    from tests.factories import GalleryFactory

    migration = importlib.import_module("search.migrations.0005_cutoff_calibration")
    empty = GalleryFactory(slug="empty", owner=cast.owner)  # no vectors: the deployment's models
    Gallery.objects.filter(pk__in=[cast.gallery.pk, empty.pk]).update(
        threshold_static_text=1.3, threshold_neighbours=4
    )
    # The models as the migration saw them (Embedding was search's then; indexing's now).
    state = MigrationLoader(connection).project_state(("search", "0005_cutoff_calibration"))
    migration.move_gallery_overrides(state.apps, None)
    found = set(
        GalleryCutoffOverride.objects.values_list("gallery_id", "model_name", "parameter", "value")
    )
    assert found == {
        (gallery, model, parameter, value)
        for gallery in (cast.gallery.pk, empty.pk)
        for model in (FIRST, SECOND)
        for parameter, value in (("static_text", 1.3), ("neighbours", 4.0))
    }
    cast.gallery.refresh_from_db()
    assert cast.gallery.threshold_static_text is None and cast.gallery.threshold_neighbours is None
    values = cutoff_parameters(model_name=SECOND, gallery=cast.gallery)
    assert (values["neighbours"].value, values["neighbours"].source) == (4, "override")
