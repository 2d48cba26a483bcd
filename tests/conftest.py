"""Shared fixtures: real PostgreSQL+pgvector (embedded), real Redis, the permission cast.

Every permission test uses the same people around one private gallery:
owner, editor, viewer, an organisation member who is not a gallery member,
an outsider, and (implicitly) an anonymous caller.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass

import pytest
import redis
from django.test.utils import override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from cbir_site.celery import app as celery_app
from galleries.models import Gallery, Membership, Organisation
from indexing.index_sync import manager
from tests.factories import GalleryFactory, OrganisationFactory, UserFactory, add_member
from tests.services import private_redis


def pytest_addoption(parser):  # type: ignore[no-untyped-def]
    parser.addoption(
        "--reliability-long",
        action="store_true",
        help="tests/reliability: more images, kills and a longer load run (minutes).",
    )


@pytest.fixture(scope="session", autouse=True)
def test_environment():
    """Redis broker, a throw-away media folder and the fast fake encoder for the whole session."""
    media = tempfile.mkdtemp(prefix="cbir-media-")
    with _redis_url() as url:
        overrides = override_settings(
            MEDIA_ROOT=media,
            CELERY_BROKER_URL=url,
            CBIR_ENCODER="fake",
            CACHES={
                "default": {
                    "BACKEND": "django.core.cache.backends.redis.RedisCache",
                    "LOCATION": url,
                }
            },
            REST_FRAMEWORK=_without_throttles(),
            # Test data lives in uncommitted transactions a background build thread cannot see:
            # build indexes in the searching thread (test_index_sync covers the background path).
            CBIR_INDEX_BUILD_IN_BACKGROUND=False,
            # Tests create many users: the production hasher's 1M iterations cost seconds each.
            PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        )
        overrides.enable()
        # DRF binds SimpleRateThrottle.THROTTLE_RATES when rest_framework.throttling is first
        # imported, which can be at collection, before the override above: set it as well, or
        # the real rates (sign-in 10/min) apply to whichever tests run after such an import.
        from django.conf import settings
        from rest_framework.throttling import SimpleRateThrottle

        real_rates = SimpleRateThrottle.THROTTLE_RATES
        SimpleRateThrottle.THROTTLE_RATES = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
        celery_app.conf.broker_url = url
        os.environ["CBIR_TEST_REDIS_URL"] = url
        try:
            yield {"redis_url": url, "media_root": media}
        finally:
            SimpleRateThrottle.THROTTLE_RATES = real_rates
            overrides.disable()
            shutil.rmtree(media, ignore_errors=True)


def _redis_url():  # type: ignore[no-untyped-def]
    from contextlib import nullcontext

    given = os.environ.get("REDIS_URL")
    return nullcontext(given) if given else private_redis()


def _without_throttles() -> dict:
    from django.conf import settings

    config = dict(settings.REST_FRAMEWORK)
    rates = {scope: "100000/min" for scope in config["DEFAULT_THROTTLE_RATES"]}
    config["DEFAULT_THROTTLE_RATES"] = rates
    return config


@pytest.fixture(autouse=True)
def fresh_process_state():
    """In-memory indexes and the cached model selection outlive a test's database rollback:
    start each test without them."""
    from indexing.runtime import selection_invalidate

    manager.clear()
    selection_invalidate()
    yield
    manager.clear()
    selection_invalidate()


@pytest.fixture
def broker(test_environment):
    """The real Redis broker, emptied before the test."""
    client = redis.Redis.from_url(test_environment["redis_url"])
    client.flushdb()
    return client


@pytest.fixture
def use_encoder(settings):
    """Switch the active encoder for one test: use_encoder('bundled')."""

    def switch(kind: str, **extra: object) -> None:
        settings.CBIR_ENCODER = kind
        for key, value in extra.items():
            setattr(settings, key, value)

    return switch


@dataclass
class Cast:
    owner: object
    editor: object
    viewer: object
    org_member: object
    outsider: object
    organisation: Organisation
    gallery: Gallery  # private, with owner/editor/viewer memberships


@pytest.fixture
def cast(db) -> Cast:
    owner = UserFactory(username="owner")
    editor = UserFactory(username="editor")
    viewer = UserFactory(username="viewer")
    org_member = UserFactory(username="orgmember")
    outsider = UserFactory(username="outsider")
    organisation = OrganisationFactory(slug="acme", name="Acme")
    for user in (owner, editor, viewer, org_member):
        organisation.organisationmembership_set.create(user=user)
    gallery = GalleryFactory(slug="private", organisation=organisation, owner=owner)
    add_member(gallery, editor, Membership.Role.EDITOR)
    add_member(gallery, viewer, Membership.Role.VIEWER)
    return Cast(owner, editor, viewer, org_member, outsider, organisation, gallery)


@pytest.fixture
def client_for():
    """An API client signed in as `user` (token auth), or anonymous for None."""

    def make(user) -> APIClient:  # type: ignore[no-untyped-def]
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make
