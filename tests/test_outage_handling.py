"""What a request or a task meets while Redis or PostgreSQL is away (the unit side of
tests/reliability): the cache answers as a miss, the API answers 503 with JSON."""

from __future__ import annotations

import pytest
from django.db import OperationalError

from cbir_site.cache import FailOpenRedisCache
from tests.services import free_port


@pytest.fixture
def unreachable_cache():
    return FailOpenRedisCache(f"redis://127.0.0.1:{free_port()}/0", {})


def test_cache_without_redis_answers_as_a_miss(unreachable_cache):
    cache = unreachable_cache
    assert cache.get("history", []) == []
    assert cache.add("debounce", 1) is False
    cache.set("history", [1.0])
    assert cache.get_many(["a", "b"]) == {}
    assert cache.delete("history") is False
    assert cache.set_many({"a": 1}) == ["a"]


def test_cache_with_redis_works_as_usual(test_environment):
    cache = FailOpenRedisCache(test_environment["redis_url"], {})
    cache.delete("outage-test")
    assert cache.add("outage-test", 1) is True
    assert cache.add("outage-test", 2) is False
    assert cache.get("outage-test") == 1
    cache.delete("outage-test")


@pytest.mark.django_db
def test_database_errors_answer_503_json_with_retry_after(cast, client_for, monkeypatch):
    def down(user):  # type: ignore[no-untyped-def]
        raise OperationalError("connection refused")

    monkeypatch.setattr("galleries.selectors.galleries_visible_to", down)
    response = client_for(cast.owner).get("/api/v1/galleries/")
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable" and "database" in response.json()["detail"]
    assert response["Retry-After"] == "5"
