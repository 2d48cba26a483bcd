"""Unique slugs for galleries and organisations that tell nothing about other rows.

Slugs are unique across the deployment, so the slug a create request gets back
could confirm that a gallery the caller cannot see already has the name (the
old `ga-private-2`). A taken slug therefore gets a random suffix
(`ga-private-7k3f9q`), never a counter; requests from people who cannot see
every gallery get a random suffix whether or not the slug is taken, so a free
slug and a taken one answer alike. The unique constraint stays the judge: a
lost race is retried with a fresh suffix.
"""

from __future__ import annotations

import secrets
import string

from django.db import IntegrityError, models, transaction
from django.utils.text import slugify

from cbir_site.errors import ConflictError

SUFFIX_ALPHABET = string.ascii_lowercase + string.digits
SUFFIX_LENGTH = 6  # 36**6 (about 2e9) suffixes per name: a clash is a rare retry
BASE_LENGTH = 60  # + "-" + suffix stays within the 80 characters of the slug column
ATTEMPTS = 8


def slug_base(text: str) -> str:
    return slugify(text)[:BASE_LENGTH].strip("-") or "item"


def random_suffix() -> str:
    return "".join(secrets.choice(SUFFIX_ALPHABET) for _ in range(SUFFIX_LENGTH))


def save_with_unique_slug(obj: models.Model, *, text: str, always_suffix: bool) -> None:
    """Insert `obj` (unsaved) with a slug made from `text`.

    The plain slug is used when it is free and `always_suffix` is false;
    otherwise, and after a lost race for the plain slug, `<slug>-<6 random
    characters>`. Raises ConflictError if every attempt collides.
    """
    manager = type(obj)._default_manager
    base = slug_base(text)
    plain = not always_suffix and not manager.filter(slug=base).exists()
    for attempt in range(ATTEMPTS + plain):
        candidate = base if plain and attempt == 0 else f"{base}-{random_suffix()}"
        obj.slug = candidate
        try:
            with transaction.atomic():  # a savepoint: a clash leaves the caller's work intact
                obj.save(force_insert=True)
            return
        except IntegrityError:
            if not manager.filter(slug=candidate).exists():
                raise  # another constraint failed: not ours to hide
    raise ConflictError("Could not find a free address for this name; try again.")
