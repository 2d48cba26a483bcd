"""Rate limits on sign-in, search and upload, for pages and the API alike."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.throttling import SimpleRateThrottle

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def tight(monkeypatch):
    cache.clear()
    rates = {
        "login": "2/min",
        "search": "2/min",
        "upload": "2/min",
        "anon": "1000/min",
        "user": "1000/min",
    }
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
    yield
    cache.clear()


def test_repeated_sign_in_attempts_are_slowed_down(cast, tight):
    client = Client()
    for _ in range(2):
        assert (
            client.post("/accounts/login/", {"username": "owner", "password": "wrong"}).status_code
            == 200
        )
    blocked = client.post("/accounts/login/", {"username": "owner", "password": PASSWORD})
    assert blocked.status_code == 429 and int(blocked["Retry-After"]) > 0
    assert b"Too many requests" in blocked.content


def test_token_endpoint_shares_the_sign_in_rate(cast, tight, client_for):
    client = client_for(None)
    codes = [
        client.post("/api/v1/auth/token/", {"username": "owner", "password": "wrong"}).status_code
        for _ in range(3)
    ]
    assert codes == [400, 400, 429]


def test_search_page_and_api_are_rate_limited(cast, tight, client_for):
    page = Client()
    page.force_login(cast.viewer)
    assert [page.get("/search/", {"q": "red"}).status_code for _ in range(3)][-1] == 429
    api = client_for(cast.editor)
    codes = [
        api.post("/api/v1/search/", {"text": "red"}, format="json").status_code for _ in range(3)
    ]
    assert codes[-1] == 429
