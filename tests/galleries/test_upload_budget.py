"""Uploads are metered by what they cost: duplicates before any decode, pixels per request,
files and pixels per user and minute, uploads in progress per user, pixels decoded at once
per process. Over a limit, a file is refused with its reason and a request gets a JSON 429."""

from __future__ import annotations

import io
import threading

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse

from cbir_site.errors import ServiceUnavailableError
from galleries.decoding import DecodeGate, decode_gate
from galleries.models import Image
from galleries.upload_budget import upload_slot
from tests.factories import png_bytes

pytestmark = pytest.mark.django_db

PIXELS = 64 * 48  # png_bytes' default size


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()  # counters are keyed by user id, and ids restart with each test database
    yield
    cache.clear()


def files(n: int, offset: int = 0) -> list[io.BytesIO]:
    out = []
    for i in range(n):
        handle = io.BytesIO(png_bytes((i + offset, 10, 200)))  # distinct bytes, distinct SHA-256
        handle.name = f"f{i + offset}.png"
        out.append(handle)
    return out


def post(client, gallery, handles):  # type: ignore[no-untyped-def]
    return client.post(
        reverse("api:gallery-images", kwargs={"slug": gallery.slug}),
        {"files": handles},
        format="multipart",
    )


def codes(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.get("code") or r["status"] for r in response.json()["results"]]


def test_duplicate_is_recognised_before_any_header_check_or_decode(cast, client_for):
    client = client_for(cast.editor)
    assert post(client, cast.gallery, files(1)).status_code == 201
    # Limits that would now refuse the file: the SHA-256 answers first, nothing is decoded.
    with override_settings(CBIR_MIN_IMAGE_SIDE=1000):
        response = post(client, cast.gallery, files(1))
    assert codes(response) == ["duplicate"]
    assert Image.objects.filter(gallery=cast.gallery).count() == 1


@override_settings(CBIR_MAX_PIXELS_PER_REQUEST=3 * PIXELS)
def test_request_pixel_budget_refuses_the_files_beyond_it(cast, client_for):
    response = post(client_for(cast.editor), cast.gallery, files(5))
    assert response.status_code == 201
    assert codes(response) == ["created"] * 3 + ["request_pixel_budget"] * 2
    assert "another request" in response.json()["results"][4]["message"]
    assert Image.objects.filter(gallery=cast.gallery).count() == 3


@override_settings(CBIR_UPLOAD_FILES_PER_MINUTE=3)
def test_files_per_minute_are_counted_in_files_not_requests(cast, client_for):
    client = client_for(cast.editor)
    first = post(client, cast.gallery, files(5))
    assert codes(first) == ["created"] * 3 + ["rate_limited"] * 2
    second = post(client, cast.gallery, files(1, offset=10))
    assert second.status_code == 429
    assert second.json()["code"] == "throttled" and "Upload limit" in second.json()["detail"]
    assert 0 < int(second["Retry-After"]) <= 61
    # Another user has a quota of their own.
    assert post(client_for(cast.owner), cast.gallery, files(1, offset=20)).status_code == 201


@override_settings(CBIR_UPLOAD_PIXELS_PER_MINUTE=int(2.5 * PIXELS))
def test_pixels_per_minute_are_counted_from_headers(cast, client_for):
    response = post(client_for(cast.editor), cast.gallery, files(4))
    assert codes(response) == ["created"] * 2 + ["rate_limited"] * 2


@override_settings(CBIR_UPLOAD_CONCURRENCY_PER_USER=2)
def test_a_user_with_uploads_in_progress_waits_for_a_slot(cast, client_for):
    client = client_for(cast.editor)
    with upload_slot(cast.editor.pk), upload_slot(cast.editor.pk):
        busy = post(client, cast.gallery, files(1))
        assert busy.status_code == 429
        assert "in progress" in busy.json()["detail"]
        assert post(client_for(cast.owner), cast.gallery, files(1, offset=5)).status_code == 201
    assert post(client, cast.gallery, files(1)).status_code == 201  # slots freed


def test_html_upload_over_quota_says_why_instead_of_failing(cast, client):
    client.force_login(cast.editor)
    with override_settings(CBIR_UPLOAD_FILES_PER_MINUTE=1):
        url = reverse("galleries:upload", kwargs={"slug": cast.gallery.slug})
        client.post(url, {"files": files(1)})
        response = client.post(url, {"files": files(1, offset=3)}, follow=True)
    assert response.status_code == 200
    assert "Upload limit reached" in response.content.decode()
    assert Image.objects.filter(gallery=cast.gallery).count() == 1


def test_decode_gate_bounds_pixels_held_at_once():
    gate = DecodeGate(capacity=100)
    entered, release = threading.Event(), threading.Event()

    def holder() -> None:
        with gate.hold(80, timeout=1):
            entered.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    assert entered.wait(5)
    with pytest.raises(ServiceUnavailableError), gate.hold(50, timeout=0.1):
        pass
    with gate.hold(20, timeout=0.1):  # what fits goes through at once
        assert gate.in_use == 100
    release.set()
    thread.join(5)
    with gate.hold(100, timeout=0.1):
        assert gate.in_use == 100
    assert gate.in_use == 0


@override_settings(CBIR_DECODE_WAIT_S=0.1)
def test_upload_while_the_process_is_busy_decoding_is_refused_not_queued_forever(cast, client_for):
    gate = decode_gate()
    with gate.hold(gate.capacity, timeout=1):
        response = post(client_for(cast.editor), cast.gallery, files(1))
    assert codes(response) == ["busy"]
    assert not Image.objects.filter(gallery=cast.gallery).exists()
