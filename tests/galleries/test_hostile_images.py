"""The hostile-image corpus through every door: the pure path, API upload, search by
example, cbir_import and the embedding worker. Each hostile file gets a 4xx (or a
`failed` status) with its reason, quickly, and leaves nothing behind; each awkward
but legitimate file is accepted and decoded to sensible RGB."""

from __future__ import annotations

import io
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse

from galleries.decoding import image_limits
from galleries.imaging import ImageRejected, validate_image
from galleries.models import Image
from indexing.embedding import images_embed
from tests import hostile_images
from tests.hostile_images import TEST_SETTINGS, Case

pytestmark = pytest.mark.django_db

REQUEST_BOUND_S = 5.0  # per request, on a loaded 2-vCPU machine; each case takes milliseconds
CORPUS = hostile_images.corpus()
HOSTILE = [c for c in CORPUS if c.expect != "ok"]
ACCEPTED = [c for c in CORPUS if c.expect == "ok"]


@pytest.fixture(autouse=True)
def test_limits():
    with override_settings(**TEST_SETTINGS):
        yield


def media_files() -> set[str]:
    root = Path(django_settings.MEDIA_ROOT)
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def named(case: Case) -> io.BytesIO:
    handle = io.BytesIO(case.data)
    handle.name = case.name
    return handle


@pytest.mark.parametrize("case", CORPUS, ids=lambda c: c.name)
def test_guarded_path_answers_each_case_quickly(case):
    started = time.perf_counter()
    try:
        validated = validate_image(case.data, image_limits(), decode_side=224)
        got = "ok"
    except ImageRejected as exc:
        got = exc.code
        assert exc.message  # a reason for people, not just a code
    assert got == case.expect
    assert time.perf_counter() - started < 1.0
    if got == "ok":
        assert validated.picture is not None and validated.picture.mode == "RGB"


def test_sixteen_bit_grey_keeps_its_brightness():
    case = next(c for c in ACCEPTED if c.name == "grey16.png")
    picture = validate_image(case.data, image_limits()).picture
    assert picture is not None
    assert picture.getpixel((0, 0)) == pytest.approx((128, 128, 128), abs=2)  # not clipped to 255


def test_broken_exif_is_ignored_and_real_rotation_applied():
    sizes = {
        c.name: validate_image(c.data, image_limits()).picture.size  # type: ignore[union-attr]
        for c in ACCEPTED
        if c.name.startswith("exif-")
    }
    assert sizes["exif-orientation-9.jpg"] == (64, 32)
    assert sizes["exif-garbage.jpg"] == (64, 32)
    assert sizes["exif-rotated-6.jpg"] == (32, 64)


@pytest.mark.parametrize("case", HOSTILE, ids=lambda c: c.name)
def test_api_upload_refuses_with_reason_and_leaves_nothing(case, cast, client_for):
    before = media_files()
    started = time.perf_counter()
    response = client_for(cast.editor).post(
        reverse("api:gallery-images", kwargs={"slug": cast.gallery.slug}),
        {"files": [named(case)]},
        format="multipart",
    )
    assert time.perf_counter() - started < REQUEST_BOUND_S
    assert response.status_code == 400, response.content
    (result,) = response.json()["results"]
    assert (result["status"], result["code"]) == ("rejected", case.expect)
    assert result["message"]
    assert not Image.objects.filter(gallery=cast.gallery).exists()
    assert media_files() == before


def test_api_upload_accepts_the_awkward_but_legitimate(cast, client_for):
    response = client_for(cast.editor).post(
        reverse("api:gallery-images", kwargs={"slug": cast.gallery.slug}),
        {"files": [named(c) for c in ACCEPTED]},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    statuses = {r["filename"]: r["status"] for r in response.json()["results"]}
    assert statuses == {c.name: "created" for c in ACCEPTED}
    panorama = Image.objects.get(original_filename="panorama-200x2400.jpg")
    assert (panorama.width, panorama.height) == (200, 2400)
    for image in Image.objects.filter(gallery=cast.gallery):
        assert default_storage.exists(image.thumbnail.name)


@pytest.mark.parametrize("case", HOSTILE, ids=lambda c: c.name)
def test_search_by_example_refuses_with_reason(case, client_for):
    started = time.perf_counter()
    response = client_for(None).post(
        reverse("api:search"), {"image": named(case), "k": 1}, format="multipart"
    )
    assert time.perf_counter() - started < REQUEST_BOUND_S
    assert response.status_code in (400, 413), response.content
    body = response.json()
    # An empty file is refused by the request's own validation, before the image path.
    expected = ("empty", "invalid") if case.expect == "empty" else (case.expect,)
    assert body["code"] in expected and body["detail"]


@pytest.mark.parametrize("case", ACCEPTED[:4], ids=lambda c: c.name)
def test_search_by_example_accepts_legitimate_shapes(case, client_for):
    response = client_for(None).post(
        reverse("api:search"), {"image": named(case), "k": 1}, format="multipart"
    )
    assert response.status_code == 200, response.content


def test_import_command_reports_each_refusal(cast, tmp_path):
    for case in CORPUS:
        (tmp_path / case.name).write_bytes(case.data)
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "cbir_import", cast.gallery.slug, str(tmp_path), "--no-progress", stdout=out, stderr=err
    )
    names = set(
        Image.objects.filter(gallery=cast.gallery).values_list("original_filename", flat=True)
    )
    assert names == {c.name for c in ACCEPTED}
    report = out.getvalue() + err.getvalue()
    for case in HOSTILE:
        if case.expect != "empty":  # an empty file: the importer's own message
            assert case.name in report


def test_worker_marks_a_stored_hostile_file_failed_with_its_reason(cast):
    """Files stored before today's limits (or damaged since) fail in the worker, with why."""
    rows = []
    for case in [c for c in HOSTILE if c.data]:
        path = default_storage.save(
            f"images/{cast.gallery.pk}/{uuid.uuid4().hex}.bin", ContentFile(case.data)
        )
        rows.append(
            Image.objects.create(
                gallery=cast.gallery, file=path, thumbnail="", original_filename=case.name,
                sha256=uuid.uuid4().hex, byte_size=len(case.data), width=1, height=1, format="PNG",
            )
        )  # fmt: skip
    started = time.perf_counter()
    report = images_embed(image_ids=[r.pk for r in rows])
    assert time.perf_counter() - started < REQUEST_BOUND_S * 2
    assert set(report.failed) == {r.pk for r in rows}
    for row in rows:
        row.refresh_from_db()
        assert row.status == Image.Status.FAILED
        assert row.failure_reason
