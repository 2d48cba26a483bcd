"""Each cutoff value and its source, shown: the staff API, the search response, the admin."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from indexing.embedding import images_embed
from indexing.encoders.fake import FakeEncoder
from search.cutoff_models import CutoffCalibration, GalleryCutoffOverride
from search.cutoffs import gallery_cutoff_overrides_set, gallery_overrides
from search.statistics import gallery_statistics_update
from tests.factories import GalleryFactory, png_bytes, upload

pytestmark = pytest.mark.django_db

MODEL = FakeEncoder.name
OTHER = "fake:colour-v2"
URL = "/api/v1/cutoffs/"


@pytest.fixture(autouse=True)
def defaults(settings):  # type: ignore[no-untyped-def]
    settings.CBIR_THRESHOLD_STATIC_IMAGE = 1.01
    settings.CBIR_THRESHOLD_STATIC_TEXT = 1.0
    settings.CBIR_THRESHOLD_WEIGHT = 1.1
    settings.CBIR_THRESHOLD_NEIGHBOURS = 2
    settings.CBIR_THRESHOLD_MIN_IMAGES = 3
    settings.CBIR_TEXT_CUTOFF = "dynamic"
    cache.clear()


@pytest.fixture
def staff(cast):  # type: ignore[no-untyped-def]
    """The gallery's owner, made staff: a collection manager."""
    cast.owner.is_staff = True
    cast.owner.save(update_fields=["is_staff"])
    return cast.owner


def fitted(model_name: str, parameter: str, value: float) -> None:
    CutoffCalibration.objects.create(
        model_name=model_name,
        parameter=parameter,
        value=value,
        source="fitted_judgements",
        sample_size=42,
        score=0.8,
        detail={"relevant": 20, "not_relevant": 22},
        fitted_at=timezone.now(),
    )


def by_name(body):  # type: ignore[no-untyped-def]
    return {p["name"]: (p["value"], p["source"]) for p in body["parameters"]}


# ---------------------------------------------------------------- the API


def test_staff_read_each_value_and_its_source(cast, staff, client_for):
    fitted(MODEL, "static_text", 0.7)
    fitted(OTHER, "static_image", 0.1)
    gallery_cutoff_overrides_set(gallery=cast.gallery, model_name=MODEL, values={"weight": 0.5})
    response = client_for(staff).get(URL)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model_name"] == MODEL and body["active"] is True and body["gallery"] is None
    assert by_name(body) == {
        "static_image": (1.01, "default"),
        "static_text": (0.7, "fitted_judgements"),
        "weight": (1.1, "default"),  # the override is the gallery's, not the model's
        "neighbours": (2, "default"),
        "text_f1_centre": (5.0, "default"),
        "text_f1_bank_weight": (1.0, "default"),
        "text_f1_own_weight": (0.0, "default"),
        "qbnorm_z": (2.0, "default"),
    }
    (row,) = body["calibrations"]
    assert row["parameter"] == "static_text" and row["sample_size"] == 42
    in_gallery = client_for(staff).get(URL, {"gallery": cast.gallery.slug}).json()
    assert by_name(in_gallery)["weight"] == (0.5, "override")
    other = client_for(staff).get(URL, {"model": OTHER}).json()
    assert other["active"] is False and by_name(other)["static_image"] == (0.1, "fitted_judgements")
    assert by_name(other)["static_text"] == (1.0, "default")


def test_non_staff_cannot_read_the_calibrations(cast, client_for):
    fitted(MODEL, "static_text", 0.7)
    response = client_for(cast.owner).get(URL)
    assert response.status_code == 403 and "staff" in response.json()["detail"]
    assert client_for(None).get(URL).status_code in (401, 403)


def test_an_unknown_model_or_a_gallery_out_of_reach_is_refused(cast, staff, client_for):
    missing = client_for(staff).get(URL, {"model": "nothing:here"})
    assert missing.status_code == 404 and "nothing:here" in missing.json()["detail"]
    hidden = GalleryFactory(slug="hidden", owner=cast.outsider)
    assert client_for(staff).get(URL, {"gallery": hidden.slug}).status_code == 404
    # A gallery the staff member sees as a viewer but does not manage.
    viewed = GalleryFactory(slug="viewed", owner=cast.outsider)
    from tests.factories import add_member

    add_member(viewed, staff, "viewer")
    assert client_for(staff).get(URL, {"gallery": viewed.slug}).status_code == 403


def test_the_search_response_names_each_parameters_source(cast, client_for):
    images = [upload(cast.gallery, png_bytes((250 - 10 * i, 0, 0))) for i in range(4)]
    images_embed(image_ids=[i.pk for i in images], encoder=FakeEncoder())
    gallery_statistics_update(gallery_id=cast.gallery.pk, model_name=MODEL)
    fitted(MODEL, "static_text", 1.2)
    fitted(OTHER, "weight", 9.0)  # another model's: never shown here
    gallery_cutoff_overrides_set(gallery=cast.gallery, model_name=MODEL, values={"neighbours": 2})
    response = client_for(cast.viewer).post(
        "/api/v1/search/", {"text": "red", "mode": "static"}, format="json"
    )
    (block,) = response.json()["thresholds"]
    assert block["source"] == "static" and block["distance"] == pytest.approx(1.2)
    assert block["parameters"] == {
        "static": {"value": 1.2, "source": "fitted_judgements"},
        "weight": {"value": 1.1, "source": "default"},
        "neighbours": {"value": 2, "source": "override"},
    }
    schema = client_for(None).get("/api/schema/?format=json").json()
    assert "/api/v1/cutoffs/" in schema["paths"]


# ---------------------------------------------------------------- the admin


def signed_in(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def test_staff_see_the_calibrations_read_only(cast, staff):
    fitted(MODEL, "static_text", 0.7)
    page = reverse("admin:search_cutoffcalibration_changelist")
    content = signed_in(staff).get(page).content.decode()
    assert "fitted on judgements" in content and MODEL in content and "0.7" in content
    row = CutoffCalibration.objects.get()
    change = signed_in(staff).post(
        reverse("admin:search_cutoffcalibration_change", args=[row.pk]), {"value": "1.9"}
    )
    assert change.status_code == 403
    row.refresh_from_db()
    assert row.value == 0.7
    assert signed_in(cast.viewer).get(page).status_code == 302  # not staff: to the login page


def test_the_gallery_page_shows_effective_values_and_saves_overrides_per_model(cast, staff):
    from tests.galleries.test_admin import _inline_post

    fitted(MODEL, "static_text", 0.7)
    gallery_cutoff_overrides_set(gallery=cast.gallery, model_name=OTHER, values={"weight": 4})
    page = reverse("admin:galleries_gallery_change", args=[cast.gallery.pk])
    content = signed_in(staff).get(page).content.decode()
    assert "Effective values" in content and MODEL in content
    assert "fitted on judgements" in content and "default (the deployment" in content
    rows = [
        {"id": m.pk, "gallery": cast.gallery.pk, "user": m.user.username, "role": m.role}
        for m in cast.gallery.memberships.all()
    ]
    form = _inline_post(cast.gallery, rows)
    form.update({"threshold_weight": "0.25"})
    assert signed_in(staff).post(page, form).status_code == 302
    assert gallery_overrides(gallery=cast.gallery, model_name=MODEL) == {"weight": 0.25}
    assert gallery_overrides(gallery=cast.gallery, model_name=OTHER) == {"weight": 4}
    content = signed_in(staff).get(page).content.decode()
    assert "manager override" in content and 'value="0.25"' in content
    form.update({"threshold_weight": ""})  # emptied: the override goes, the other model's stays
    assert signed_in(staff).post(page, form).status_code == 302
    assert list(GalleryCutoffOverride.objects.values_list("model_name", flat=True)) == [OTHER]
