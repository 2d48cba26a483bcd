"""Domain exceptions raised by services and selectors.

They carry a machine-readable code and a message meant for the user. HTTP
status codes are assigned in one place (cbir_site/api.py for the REST API,
the web views for HTML), never inside the services.
"""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    code = "error"

    def __init__(
        self, message: str, *, code: str | None = None, extra: dict[str, Any] | None = None
    ):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.extra = extra or {}


class NotFoundError(ApplicationError):
    """The object does not exist or the caller may not see it (the two are not told apart)."""

    code = "not_found"


class PermissionDeniedError(ApplicationError):
    """The caller may see the object but not do this to it."""

    code = "permission_denied"


class InvalidInputError(ApplicationError):
    code = "invalid"


class ConflictError(ApplicationError):
    code = "conflict"


class PayloadTooLargeError(InvalidInputError):
    code = "too_large"


class UnsupportedMediaError(InvalidInputError):
    code = "unsupported_media_type"


class RateLimitedError(ApplicationError):
    """The caller used up a quota (uploads in progress, files or pixels a minute)."""

    code = "throttled"

    def __init__(self, message: str, *, retry_after: int = 60):
        super().__init__(message, extra={"retry_after": retry_after})
        self.retry_after = retry_after


class ServiceUnavailableError(ApplicationError):
    """A dependency (the encoder's weights, the index) is not ready."""

    code = "unavailable"
