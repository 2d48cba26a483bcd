"""manage.py cbir_models: list, status, activate --inline, prune, pull with a progress bar."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from indexing.embedding import images_embed
from indexing.model_models import ManagedModel
from indexing.models import Embedding
from tests.factories import png_bytes, upload
from tests.models.conftest import KEY, TINY_LOCAL_KEY

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("cbir_models", *args, stdout=out)
    return out.getvalue()


def test_list_status_activate_inline_and_prune(cast, managed_models, settings):
    settings.CBIR_THRESHOLD_MIN_IMAGES = 3
    images = [upload(cast.gallery, png_bytes((i * 50, 20, 20)), name=f"{i}.png") for i in range(4)]
    images_embed(image_ids=[i.pk for i in images])
    listing = _run("list")
    assert "clip-vit-b-32 *" in listing and TINY_LOCAL_KEY in listing
    assert "fake:colour-v1" in listing  # the active model's identity (tests' settings)
    assert "Candidate: none" in _run("status")

    out = _run("activate", TINY_LOCAL_KEY, "--inline")
    assert "Embedded 4 images" in out and f"Search now uses {TINY_LOCAL_KEY}" in out
    status = _run("status")
    assert f"Active: {TINY_LOCAL_KEY}" in status and "Retired (rollback possible" in status

    with pytest.raises(CommandError, match="in use"):
        _run("prune", TINY_LOCAL_KEY, "--yes")
    pruned = _run("prune", "--yes")
    assert "fake:colour-v1: 4 embeddings" in pruned
    assert not Embedding.objects.filter(model_name="fake:colour-v1").exists()
    assert Embedding.objects.filter(model_name=managed_models.identity()).count() == 4


def test_pull_records_progress_and_verify_reports(hub):
    out = _run("pull", KEY)
    assert "checksums verified" in out
    row = ManagedModel.objects.get(key=KEY)
    assert row.pull_done == row.pull_total > 0
    assert ManagedModel.objects.get(key=KEY).pull_state == "done"
    verified = _run("verify", KEY)
    assert verified.count(" ok ") == 2


def test_pull_errors_are_command_errors(hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CommandError, match="by hand"):
        _run("pull", KEY)
    with pytest.raises(CommandError, match="Unknown model"):
        _run("pull", "nope")
    assert "nothing to pull" in _run("pull", "bundled")
