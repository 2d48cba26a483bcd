"""Request-level guards: the body-size cap, and JSON for every error under /api/.

RequestSizeLimitMiddleware: refuse an oversized request body from its Content-Length,
before any of it is read.

The per-file limit (CBIR_MAX_UPLOAD_BYTES) is checked only once Django has parsed the
multipart body, and by then the whole body has been spooled to disk. This middleware runs
first and answers 413 to a request that announces more than CBIR_MAX_REQUEST_BYTES. A body
without a Content-Length (chunked) is never read by Django's WSGI handler, so that header is
the one to check.

ApiJsonErrorsMiddleware: an error under /api/ that is not JSON already (Django's debug
pages for an unknown URL or a crash, a 400 for a bad Host header) becomes
{"detail": ..., "code": ...}, so no API client ever parses HTML, and DEBUG's pages,
which list every URL pattern and print tracebacks, never reach one.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.response import Response

from cbir_site.config import site_config
from cbir_site.error_views import KEPT_HEADERS, api_error, is_api


class RequestSizeLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        length = _content_length(request)
        limit = site_config().max_request_bytes
        if length is not None and length > limit:
            return _too_large(request, limit)
        return self.get_response(request)


class ApiJsonErrorsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400 or not is_api(request) or _is_json(response):
            return response
        if isinstance(response, Response):
            return response  # DRF's own, rendered as the client asked (Accept: text/html)
        rewritten = api_error(response.status_code)
        for header in KEPT_HEADERS:
            if header in response:
                rewritten[header] = response[header]
        return rewritten


def _is_json(response: HttpResponse) -> bool:
    content_type = response.get("Content-Type", "").split(";")[0].strip().lower()
    return content_type == "application/json" or content_type.endswith("+json")


def _content_length(request: HttpRequest) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None  # Django reads such a body as empty


def _too_large(request: HttpRequest, limit: int) -> HttpResponse:
    message = (
        f"The request is larger than the limit of {_human(limit)}: send fewer files per request."
    )
    wants_json = request.path.startswith("/api/") or "json" in request.headers.get("Accept", "")
    if wants_json:
        return JsonResponse({"detail": message, "code": "too_large"}, status=413)
    # No "Connection: close": hop-by-hop headers are the WSGI server's (gunicorn discards the
    # unread body itself).
    return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")


def _human(size: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor:
            return f"{size / factor:.3g} {unit}"
    return f"{size} bytes"
