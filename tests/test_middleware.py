"""A cap on the whole request body, checked before any of it is read."""

from __future__ import annotations

import io
import json

import pytest
from django.http import HttpResponse
from django.test import Client, RequestFactory

from cbir_site.config import site_config
from cbir_site.middleware import RequestSizeLimitMiddleware
from tests.factories import png_bytes

pytestmark = pytest.mark.django_db


class _Unreadable(io.RawIOBase):
    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the body was read")


def test_the_limit_defaults_to_a_gibibyte_and_admits_the_largest_file():
    assert site_config().max_request_bytes >= 1024**3
    assert site_config().max_request_bytes > site_config().max_upload_bytes


def test_an_oversized_upload_gets_413_before_its_body_is_read(settings):
    settings.CBIR_MAX_REQUEST_BYTES = 10_000
    request = RequestFactory().post(
        "/api/v1/galleries/x/images/",
        content_type="multipart/form-data; boundary=b",
        CONTENT_LENGTH=str(50 * 1024**3),
        **{"wsgi.input": _Unreadable()},
    )

    def view(request):  # type: ignore[no-untyped-def]
        raise AssertionError("the view ran")

    response = RequestSizeLimitMiddleware(view)(request)
    assert response.status_code == 413
    assert json.loads(response.content) == {
        "detail": "The request is larger than the limit of 9.77 KiB: send fewer files per request.",
        "code": "too_large",
    }


def test_the_api_answers_413_to_a_body_over_the_limit(cast, client_for, settings):
    settings.CBIR_MAX_REQUEST_BYTES = 20_000
    api = client_for(cast.owner)
    url = f"/api/v1/galleries/{cast.gallery.slug}/images/"
    big = {"files": [io.BytesIO(b"x" * 30_000)]}
    response = api.post(url, big, format="multipart")
    assert response.status_code == 413 and response.json()["code"] == "too_large"
    small = io.BytesIO(png_bytes())
    small.name = "small.png"
    assert api.post(url, {"files": [small]}, format="multipart").status_code == 201


def test_a_page_gets_a_plain_text_413(cast, settings):
    settings.CBIR_MAX_REQUEST_BYTES = 1_000
    client = Client()
    client.force_login(cast.owner)
    response = client.post("/search/", {"text": "x" * 5_000})
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/plain")
    assert b"larger than the limit of 1000 bytes" in response.content


def test_requests_within_the_limit_pass(settings):
    settings.CBIR_MAX_REQUEST_BYTES = 1_000
    request = RequestFactory().post("/x", data=b"a" * 999, content_type="text/plain")
    response = RequestSizeLimitMiddleware(lambda r: HttpResponse(r.body))(request)
    assert response.status_code == 200 and response.content == b"a" * 999
