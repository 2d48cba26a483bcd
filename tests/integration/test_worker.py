"""The whole pipeline in real processes: API upload, Redis, Celery worker, pgvector, search.

A separate `celery worker` process consumes the real Redis broker and writes
to the same PostgreSQL test database; this process serves the API and
searches its own FAISS index, which learns about the worker's embeddings
through the change feed.
"""

from __future__ import annotations

import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from cbir_site.config import site_config
from galleries.models import Image
from galleries.samples import sample_photos
from indexing.runtime import get_encoder
from tests.services import celery_worker, database_url, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(test_environment, broker, tmp_path, use_encoder, settings):
    use_encoder("bundled")
    env = {
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": test_environment["redis_url"],
        "CBIR_MEDIA_ROOT": settings.MEDIA_ROOT,
        "CBIR_ENCODER": "bundled",
        "CBIR_ENV": "development",
    }
    with celery_worker(env, log_path=tmp_path / "worker.log") as proc:
        yield proc


def test_the_worker_runs_below_the_web_servers_priority(worker, settings):
    """Embedding yields the CPU to searches (CBIR_WORKER_NICE), in the pool's child too."""
    import psutil

    parent = psutil.Process(worker.pid)
    wait_for(lambda: parent.children(), timeout=30, what="the worker's pool child")
    for process in [parent, *parent.children()]:
        assert process.nice() >= site_config().worker_nice > os.getpriority(os.PRIO_PROCESS, 0)


def test_uploaded_photos_are_embedded_by_the_worker_and_found_by_text(cast, client_for, worker):
    client = client_for(cast.editor)
    photos = sample_photos(["chelsea", "coffee", "rocket", "astronaut", "moon", "clock"])
    files = [SimpleUploadedFile(name, data, content_type="image/png") for name, data in photos]
    response = client.post(
        "/api/v1/galleries/private/images/", {"files": files}, format="multipart"
    )
    assert response.status_code == 201, response.content
    assert {r["status"] for r in response.json()["results"]} == {"created"}

    status = wait_for(
        lambda: (
            (s := client.get("/api/v1/galleries/private/status/").json())["ready"] == len(photos)
            and s
        ),
        timeout=240,
        what="the worker to embed the uploads",
        interval=1.0,
    )
    assert status["pending"] == 0 and status["failed"] == 0 and status["indexed"] == len(photos)
    assert set(Image.objects.values_list("status", flat=True)) == {"ready"}

    get_encoder()  # the API process's own encoder, for the query
    found = client.post("/api/v1/search/", {"text": "a cat", "k": 3}, format="json").json()
    assert found["results"][0]["image"]["original_filename"] == "chelsea.png"
    found = client.post(
        "/api/v1/search/", {"text": "a cup of coffee", "k": 3}, format="json"
    ).json()
    assert found["results"][0]["image"]["original_filename"] == "coffee.png"


def test_worker_records_a_failure_for_an_image_whose_file_vanished(
    cast, client_for, worker, settings
):
    from django.core.files.storage import default_storage

    from indexing.embedding import embedding_enqueue
    from tests.factories import upload

    image = upload(cast.gallery)
    default_storage.delete(image.file.name)
    embedding_enqueue([image.pk])  # autocommit: sent at once
    wait_for(
        lambda: Image.objects.get(pk=image.pk).status == "failed",
        timeout=120,
        what="the worker to record the failure",
        interval=0.5,
    )
    assert "missing" in Image.objects.get(pk=image.pk).failure_reason
