"""Liveness and readiness endpoints."""

from __future__ import annotations

import logging

import pytest
from django.test import Client

from indexing.index_sync import manager
from indexing.runtime import active_model_name
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_authentication():
    response = Client().get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.fixture
def staff_client(db):
    client = Client()
    client.force_login(UserFactory(username="operator", is_staff=True))
    return client


def test_readyz_reports_each_check_and_waits_for_the_index(settings, staff_client):
    first = staff_client.get("/readyz")
    body = first.json()
    assert first.status_code == 503 and body["ready"] is False
    assert body["checks"]["database"]["ok"] and "pgvector" in body["checks"]["database"]["detail"]
    assert body["checks"]["broker"]["ok"] and body["checks"]["encoder"]["ok"]
    assert not body["checks"]["index"]["ok"]
    manager.wait_for_rebuilds()  # the first probe started the build
    manager.get(active_model_name())
    second = staff_client.get("/readyz")
    assert second.status_code == 200 and second.json()["ready"] is True


def test_readyz_tells_anonymous_callers_only_which_checks_fail(caplog):
    with caplog.at_level(logging.WARNING, logger="cbir_site.health"):
        response = Client().get("/readyz")
    body = response.json()
    assert response.status_code == 503 and body["ready"] is False
    assert body["checks"]["database"] == {"ok": True, "status": "ok"}
    assert body["checks"]["index"] == {"ok": False, "status": "failing"}
    assert "pgvector" not in response.content.decode()
    assert "index check failed: RuntimeError: the" in caplog.text  # the reason is in the log


def test_readyz_hides_the_reasons_from_signed_in_users_who_are_not_staff(cast):
    client = Client()
    client.force_login(cast.owner)
    checks = client.get("/readyz").json()["checks"]
    assert all(set(check) == {"ok", "status"} for check in checks.values())


def test_readyz_fails_when_the_broker_is_down(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    from cbir_site.celery import app

    previous = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        body = Client().get("/readyz").json()
    finally:
        app.conf.broker_url = previous
    assert body["checks"]["broker"]["ok"] is False and body["ready"] is False
