"""A web process warms its encoder (one pass of each kind) and its index before any search."""

from __future__ import annotations

import threading

import pytest

from indexing import runtime, warmup
from indexing.encoders.fake import FakeEncoder
from indexing.index_sync import manager

pytestmark = pytest.mark.django_db


def test_warm_up_loads_the_encoder_runs_both_kinds_and_builds_the_index(monkeypatch):
    runtime.reset_for_tests()
    calls: list[str] = []
    texts, images = FakeEncoder.encode_texts, FakeEncoder.encode_images
    monkeypatch.setattr(
        FakeEncoder, "encode_texts", lambda self, t: calls.append("text") or texts(self, t)
    )
    monkeypatch.setattr(
        FakeEncoder, "encode_images", lambda self, i: calls.append("image") or images(self, i)
    )

    warmup.warm()

    assert runtime.encoder_status().loaded
    assert calls == ["text", "image"]
    assert runtime.active_model_name() in manager.loaded()


def test_each_process_warms_in_a_thread_of_its_own_unless_turned_off(monkeypatch, settings):
    ran = threading.Event()
    monkeypatch.setattr(warmup, "warm", ran.set)
    settings.CBIR_WARM_ON_START = True
    thread = warmup.warm_in_background()
    assert thread is not None and thread.daemon
    thread.join(timeout=10)
    assert ran.is_set()
    settings.CBIR_WARM_ON_START = False
    assert warmup.warm_in_background() is None
