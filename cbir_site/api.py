"""Mapping of domain exceptions to HTTP, once, for the whole REST API."""

from __future__ import annotations

import logging
from typing import Any

from django.db import InterfaceError, OperationalError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from cbir_site import errors

logger = logging.getLogger(__name__)

_STATUS = [
    (errors.NotFoundError, status.HTTP_404_NOT_FOUND),
    (errors.PermissionDeniedError, status.HTTP_403_FORBIDDEN),
    (errors.PayloadTooLargeError, status.HTTP_413_REQUEST_ENTITY_TOO_LARGE),
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
        return Response(body, status=http_status_for(exc))
    if isinstance(exc, OperationalError | InterfaceError):
        # The database is down or restarting: a quick, clear 503 the client may retry, not a
        # 500 page. Django drops the broken connection at the end of the request.
        logger.warning("Database unavailable: %s", exc)
        body = {"detail": "The database is unavailable; try again shortly.", "code": "unavailable"}
        return Response(
            body, status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "5"}
        )
    return drf_exception_handler(exc, context)
