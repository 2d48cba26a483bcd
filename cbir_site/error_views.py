"""Error responses that no view wrote: JSON under /api/, plain pages everywhere else.

Django calls the handlers below (handler400/403/404/500 in cbir_site/urls.py)
when DEBUG is off. With DEBUG on it writes its own technical pages instead,
which list URL patterns and tracebacks: ApiJsonErrorsMiddleware
(cbir_site/middleware.py) turns any such non-JSON error under /api/ into the
same JSON body, so an API client sees {"detail": ..., "code": ...} whatever
DEBUG says. Errors inside DRF views are mapped in cbir_site/api.py.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import DisallowedHost, RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader

API_PREFIX = "/api/"

CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "throttled",
    500: "server_error",
    502: "bad_gateway",
    503: "unavailable",
    504: "timeout",
}
DETAILS = {
    400: "Bad request.",
    401: "Authentication credentials were not provided.",
    403: "You do not have permission to perform this action.",
    404: "Nothing at this address: see /api/docs/ for the endpoints.",
    405: "This method is not allowed here.",
    413: "The request is too large.",
    429: "Too many requests: slow down and try again.",
    500: "Internal server error: it has been logged.",
    503: "The service is unavailable; try again shortly.",
}
# Headers worth keeping when a non-JSON error response is rewritten as JSON.
KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


def is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


def api_error(status: int, detail: str | None = None, code: str | None = None) -> JsonResponse:
    body = {
        "detail": detail or DETAILS.get(status, "Request failed."),
        "code": code or CODES.get(status, "error"),
    }
    return JsonResponse(body, status=status)


def suspicious(exc: Exception) -> tuple[int, str, str]:
    """Status, message and code for a request Django refused as malformed or oversized.

    A body over DATA_UPLOAD_MAX_MEMORY_SIZE gets 413 (Content Too Large), not 400: the
    request is well-formed, only too big, and 413 is what the body-size middleware
    (CBIR_MAX_REQUEST_BYTES) answers too, so a client handles both the same way.
    """
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        message = (
            f"The request body is larger than {limit} bytes, the limit for JSON and form "
            "fields; send images as multipart file uploads."
        )
        return 413, message, "too_large"
    if isinstance(exc, DisallowedHost):
        return 400, "This server does not answer to that host name.", "bad_request"
    if isinstance(exc, SuspiciousOperation):
        return 400, "The request was malformed.", "bad_request"
    return 400, DETAILS[400], "bad_request"


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    status, message, code = suspicious(exception)
    if is_api(request):
        return api_error(status, message, code)
    # No request context: the request may be the problem (DisallowedHost), as in Django's own.
    html = loader.get_template("400.html").render({"message": message})
    return HttpResponse(html, status=status)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api(request):
        return api_error(403)
    return render(request, "403.html", {"exception": str(exception)}, status=403)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api(request):
        return api_error(404)
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if is_api(request):
        return api_error(500)
    # 500.html renders without context processors and reads nothing from the database:
    # either may be what failed.
    return HttpResponse(loader.get_template("500.html").render(), status=500)
