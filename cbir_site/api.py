"""Mapping of domain exceptions to HTTP, once, for the whole REST API."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import SuspiciousOperation
from django.db import InterfaceError, OperationalError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from cbir_site import errors
from cbir_site.error_views import CODES, suspicious

logger = logging.getLogger(__name__)

_STATUS = [
    (errors.NotFoundError, status.HTTP_404_NOT_FOUND),
    (errors.PermissionDeniedError, status.HTTP_403_FORBIDDEN),
    (errors.PayloadTooLargeError, status.HTTP_413_REQUEST_ENTITY_TOO_LARGE),
    (errors.RateLimitedError, status.HTTP_429_TOO_MANY_REQUESTS),
    (errors.UnsupportedMediaError, status.HTTP_415_UNSUPPORTED_MEDIA_TYPE),
    (errors.InvalidInputError, status.HTTP_400_BAD_REQUEST),
    (errors.ConflictError, status.HTTP_409_CONFLICT),
    (errors.ServiceUnavailableError, status.HTTP_503_SERVICE_UNAVAILABLE),
]


def http_status_for(exc: errors.ApplicationError) -> int:
    for cls, code in _STATUS:
        if isinstance(exc, cls):
            return code
    return status.HTTP_400_BAD_REQUEST


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, errors.ApplicationError):
        body = {"detail": exc.message, "code": exc.code, **exc.extra}
        retry_after = exc.extra.get("retry_after")
        headers = {"Retry-After": str(retry_after)} if retry_after else None
        return Response(body, status=http_status_for(exc), headers=headers)
    if isinstance(exc, OperationalError | InterfaceError):
        # The database is down or restarting: a quick, clear 503 the client may retry, not a
        # 500 page. Django drops the broken connection at the end of the request.
        logger.warning("Database unavailable: %s", exc)
        body = {"detail": "The database is unavailable; try again shortly.", "code": "unavailable"}
        return Response(
            body, status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "5"}
        )
    if isinstance(exc, SuspiciousOperation):
        # Raised while DRF reads request.data (a JSON body over DATA_UPLOAD_MAX_MEMORY_SIZE,
        # too many fields): Django would answer with an HTML 400.
        code, message, name = suspicious(exc)
        return Response({"detail": message, "code": name}, status=code)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.APIException):
        _with_detail_and_code(response, exc)
    return response


def _with_detail_and_code(response: Response, exc: exceptions.APIException) -> None:
    """Every error body has "detail" and "code"; validation errors keep their per-field lists."""
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        if isinstance(data, dict):
            data.setdefault("detail", _first_message(data))
            data.setdefault("code", "invalid")
        else:
            response.data = {"detail": _first_message(data), "code": "invalid", "errors": data}
    elif isinstance(data, dict) and "detail" in data and "code" not in data:
        codes = exc.get_codes()
        data["code"] = codes if isinstance(codes, str) else CODES.get(response.status_code, "error")


def _first_message(errors_: Any, field: str = "") -> str:
    """The first message of a (nested) DRF error structure, prefixed with its field's name."""
    if isinstance(errors_, dict) and errors_:
        key, value = next(iter(errors_.items()))
        name = field if key == "non_field_errors" else f"{field}.{key}" if field else str(key)
        return _first_message(value, name)
    if isinstance(errors_, list) and errors_:
        return _first_message(errors_[0], field)
    message = str(errors_) or "Invalid input."
    return f"{field}: {message}" if field else message
