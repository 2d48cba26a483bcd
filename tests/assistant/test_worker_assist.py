"""A real Celery worker consumes the `assist` queue and asks the test's chat-completions server."""

from __future__ import annotations

import pytest
from django.db import connection

from assistant import providers
from tests.services import celery_worker, database_url, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(test_environment, broker, tmp_path, settings, llm):
    settings.CBIR_ASSISTANT = "openai"
    settings.CBIR_LLM_URL = llm.url
    settings.CBIR_LLM_MODEL = "test-model"
    settings.CBIR_BACKGROUND_TASKS = True
    providers._cache.clear()
    env = {
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": test_environment["redis_url"],
        "CBIR_MEDIA_ROOT": settings.MEDIA_ROOT,
        "CBIR_ENCODER": "fake",
        "CBIR_ENV": "development",
        "CBIR_ASSISTANT": "openai",
        "CBIR_LLM_URL": llm.url,
        "CBIR_LLM_MODEL": "test-model",
    }
    with celery_worker(env, log_path=tmp_path / "worker.log") as proc:
        yield proc
    providers._cache.clear()


def test_the_worker_turns_a_pending_request_into_suggestions(cast, client_for, worker, llm):
    llm.reply = "a sailing boat at sea\na harbour full of boats\nNOT: car"
    client = client_for(cast.viewer)
    started = client.post("/api/v1/assist/", {"text": "boats"}, format="json")
    assert started.status_code == 202 and started.json()["status"] == "pending"
    url = f"/api/v1/assist/{started.json()['id']}/"
    body = wait_for(
        lambda: (b := client.get(url).json())["status"] != "pending" and b,
        timeout=90,
        what="the worker to answer the assist request",
        interval=0.5,
    )
    assert body["status"] == "ready", body
    assert body["rephrasings"] == ["a sailing boat at sea", "a harbour full of boats"]
    assert body["negative_suggestions"] == ["car"]
    assert llm.requests and llm.requests[0]["model"] == "test-model"
