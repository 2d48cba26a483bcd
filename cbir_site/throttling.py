"""Rate limits for the HTML views, sharing the API's rates (REST_FRAMEWORK throttle rates).

The API throttles through DRF; pages go through the same DRF throttle
classes here, so "search", "upload" and "login" have one rate each whichever
door a request comes through. Anonymous callers are told apart the same way
too: DRF's get_ident, which trusts X-Forwarded-For only as far as
REST_FRAMEWORK["NUM_PROXIES"] (CBIR_TRUSTED_PROXIES) says.
"""

from __future__ import annotations

from functools import wraps

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework.throttling import ScopedRateThrottle


class _Scoped:
    def __init__(self, scope: str):
        self.throttle_scope = scope


def allowed(request: HttpRequest, scope: str) -> tuple[bool, float | None]:
    throttle = ScopedRateThrottle()
    if throttle.allow_request(request, _Scoped(scope)):
        return True, None
    return False, throttle.wait()


def too_many(request: HttpRequest, wait: float | None) -> HttpResponse:
    seconds = int(wait or 60) + 1
    response = render(request, "429.html", {"seconds": seconds}, status=429)
    response["Retry-After"] = str(seconds)
    return response


def throttled(scope: str, *, methods: tuple[str, ...] = ("POST",)):  # type: ignore[no-untyped-def]
    """Limit a view's requests with these methods to the scope's rate."""

    def decorator(view):  # type: ignore[no-untyped-def]
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):  # type: ignore[no-untyped-def]
            if request.method in methods:
                ok, wait = allowed(request, scope)
                if not ok:
                    return too_many(request, wait)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
