"""Pulling a model through the real huggingface_hub client from a local hub (HF_ENDPOINT)."""

from __future__ import annotations

import hashlib
import time

import pytest
from django.core.management import CommandError, call_command

from indexing.config import indexing_config
from indexing.encoders.base import EncoderConfig
from indexing.encoders.openclip import OpenClipEncoder
from indexing.model_catalogue import known_model
from indexing.model_store import (
    ModelPullError,
    hub_probe,
    model_files_present,
    model_pull,
    model_verify,
)
from tests.models.conftest import KEY, REPO

BIN = "open_clip_pytorch_model.bin"


def _gets(hub, name):
    return [r for r in hub.requests if r[0] == "GET" and r[1].endswith(name)]


def test_pull_downloads_verifies_and_the_encoder_loads_the_files(hub, tiny_files):
    model = known_model(KEY)
    assert not model_files_present(model)
    seen: list[tuple[str, int, int | None]] = []
    files = model_pull(model, progress=lambda n, d, t: seen.append((n, d, t)))
    assert {f.name for f in files} == {"open_clip_config.json", BIN}
    pulled = {f.name: f for f in files}
    assert pulled[BIN].etag == hashlib.sha256(tiny_files[BIN]).hexdigest()
    # Progress reached the whole size of the checkpoint.
    assert (BIN, len(tiny_files[BIN]), len(tiny_files[BIN])) in seen
    # The safetensors alternative was asked for first and is absent (404 EntryNotFound).
    assert any(r[1].endswith("open_clip_model.safetensors") for r in hub.requests)
    assert model_files_present(model)
    assert all(check.ok for check in model_verify(model))
    encoder = OpenClipEncoder(EncoderConfig(**model.encoder_overrides()))
    assert encoder.name == f"open_clip:hf-hub:{REPO}" == model.identity()
    assert encoder.encode_texts(["a cat"]).shape == (1, 32)
    # A second pull downloads nothing again.
    before = len(_gets(hub, BIN))
    model_pull(model)
    assert len(_gets(hub, BIN)) == before


@pytest.fixture
def small_chunks(monkeypatch):
    """Stream in 64 KiB chunks (the hub client's 10 MB would swallow our whole test file)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 64 * 1024)


def test_a_connection_cut_mid_file_is_resumed_with_a_range_request(hub, tiny_files, small_chunks):
    model = known_model(KEY)
    half = len(tiny_files[BIN]) // 2
    hub.cut_after[BIN] = (half, 1)  # the first GET hangs up after half the bytes
    model_pull(model)
    ranges = [r[2] for r in _gets(hub, BIN)]
    assert ranges[0] is None and len(ranges) == 2
    assert int(ranges[1].removeprefix("bytes=").split("-")[0]) >= half - 64 * 1024
    assert all(check.ok for check in model_verify(model))


def test_an_interrupted_pull_resumes_where_it_stopped(hub, tiny_files, small_chunks):
    model = known_model(KEY)
    half = len(tiny_files[BIN]) // 2

    class Interrupted(Exception):
        pass

    def stop_midway(name, done, total):
        if name == BIN and done >= half:
            raise Interrupted  # as Ctrl-C or a killed worker would

    with pytest.raises(Interrupted):
        model_pull(model, progress=stop_midway)
    assert not model_files_present(model)
    seen: list[int] = []
    model_pull(model, progress=lambda name, done, total: seen.append(done) if name == BIN else 0)
    ranges = [r[2] for r in _gets(hub, BIN)]
    assert ranges[0] is None and len(ranges) == 2
    resumed_at = int(ranges[1].removeprefix("bytes=").split("-")[0])
    assert half - 2 * 64 * 1024 <= resumed_at <= half
    assert seen[0] == resumed_at  # the progress bar starts where the first pull stopped
    assert all(check.ok for check in model_verify(model))


def test_a_file_that_does_not_match_the_hub_checksum_is_refused(hub):
    model = known_model(KEY)
    hub.corrupt.add(BIN)
    with pytest.raises(ModelPullError) as caught:
        model_pull(model)
    assert caught.value.reason == "checksum"
    assert not model_files_present(model)
    hub.corrupt.clear()
    model_pull(model)  # the damaged part was discarded: a clean pull succeeds
    assert all(check.ok for check in model_verify(model))


def test_verify_finds_a_file_damaged_after_the_pull(hub):
    model = known_model(KEY)
    files = model_pull(model)
    from pathlib import Path

    blob = Path(next(f for f in files if f.name == BIN).path).resolve()
    blob.write_bytes(b"\0" * blob.stat().st_size)
    checks = {c.name: c for c in model_verify(model)}
    assert not checks[BIN].ok and "checksum" in checks[BIN].detail
    with pytest.raises(CommandError, match="checksum"):
        call_command("cbir_models", "verify", KEY)


def test_offline_pull_fails_at_once_and_says_how_to_install_by_hand(hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    with pytest.raises(ModelPullError) as caught:
        model_pull(known_model(KEY))
    assert time.monotonic() - started < 1
    assert caught.value.reason == "offline"
    message = str(caught.value)
    assert "HF_HUB_OFFLINE" in message and "by hand" in message and REPO in message
    assert hub.requests == []  # nothing was asked of the hub


def test_an_unreachable_hub_is_found_out_within_seconds(monkeypatch, settings):
    from tests.services import free_port

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")  # nobody listens
    started = time.monotonic()
    reason = hub_probe()
    assert reason is not None and "cannot be reached" in reason
    assert time.monotonic() - started < indexing_config().model_hub_timeout_s + 1
    with pytest.raises(ModelPullError) as caught:
        model_pull(known_model("clip-vit-b-32"))
    assert caught.value.reason == "unreachable"
    assert time.monotonic() - started < 2 * indexing_config().model_hub_timeout_s + 2
