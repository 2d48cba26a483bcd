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


def test_a_forged_forwarded_for_header_does_not_escape_the_sign_in_limit(cast, tight, client_for):
    """With no trusted proxy (the default) X-Forwarded-For is the client's word: ignored."""
    page = Client()
    codes = [
        page.post(
            "/accounts/login/",
            {"username": "owner", "password": "wrong"},
            HTTP_X_FORWARDED_FOR=f"203.0.113.{n}",
        ).status_code
        for n in range(3)
    ]
    assert codes == [200, 200, 429]
    api = client_for(None)
    codes = [
        api.post(
            "/api/v1/auth/token/",
            {"username": "owner", "password": "wrong"},
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}",
        ).status_code
        for n in range(2)
    ]
    assert codes == [429, 429]  # the same client address as the page's attempts


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(cast, tight, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    page = Client()

    def attempt(client_address: str) -> int:
        return page.post(
            "/accounts/login/",
            {"username": "owner", "password": "wrong"},
            # What the client sent, then the address the proxy saw, appended by the proxy.
            HTTP_X_FORWARDED_FOR=f"10.9.9.9, {client_address}",
        ).status_code

    assert [attempt("203.0.113.1") for _ in range(3)] == [200, 200, 429]
    assert attempt("203.0.113.2") == 200


def test_admin_sign_in_is_rate_limited_too(cast, tight):
    client = Client()
    form = {"username": "owner", "password": "wrong", "next": "/admin/"}
    codes = [client.post("/admin/login/", form).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    # The login rate is one for every door: the site's sign-in page is blocked now as well.
    assert client.post("/accounts/login/", form).status_code == 429
    assert client.get("/admin/login/").status_code == 200  # the form itself is not limited
