"""Reads: a user's own suggestion request (anybody else's is 404)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from assistant.models import AssistRequest
from cbir_site.errors import NotFoundError


def assist_request_get(*, user: AbstractBaseUser, request_id: str) -> AssistRequest:
    row = AssistRequest.objects.filter(pk=request_id, user=user).first()
    if row is None:
        raise NotFoundError("No such suggestion request.")
    return row
