"""Pending -> ready through a real Celery worker consuming the `explain` queue over Redis."""

from __future__ import annotations

import pytest
from django.db import connection

from explain.config import explain_config
from indexing.embedding import images_embed
from tests.factories import png_bytes, upload
from tests.services import celery_worker, database_url, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(test_environment, broker, tmp_path, settings):
    assert settings.CBIR_EXPLAIN_QUEUE in settings.CBIR_WORKER_QUEUES
    env = {
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": test_environment["redis_url"],
        "CBIR_MEDIA_ROOT": settings.MEDIA_ROOT,
        "CBIR_ENCODER": "fake",
        "CBIR_ENV": "development",
    }
    with celery_worker(env, log_path=tmp_path / "worker.log") as proc:
        yield proc


def test_the_worker_turns_a_pending_explanation_ready(cast, client_for, worker, settings):
    settings.CBIR_BACKGROUND_TASKS = True
    images = [
        upload(cast.gallery, png_bytes(c), name=f"{i}.png")
        for i, c in enumerate([(250, 0, 0), (0, 0, 250)])
    ]
    images_embed(image_ids=[i.pk for i in images])
    client = client_for(cast.viewer)
    body = client.post(
        "/api/v1/search/", {"text": "red", "k": 2, "mode": "topk"}, format="json"
    ).json()
    url = f"/api/v1/search/sessions/{body['session']}/iterations/0/explain/{images[0].pk}/"
    first = client.get(url)
    assert first.status_code == 202 and first.json()["status"] == "pending"
    ready = wait_for(
        lambda: (r := client.get(url)).status_code == 200 and r.json(),
        timeout=120,
        what="the worker to compute the explanation",
        interval=0.5,
    )
    assert ready["status"] == "ready" and ready["method"] == "occlusion", ready
    assert ready["passes"] <= explain_config().max_passes and ready["overlay_url"]
