"""A local hub serving a random-weight open_clip model, registered in the catalogue."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexing.model_catalogue import HubFile, KnownModel, model_register, model_unregister
from tests.hub_server import HubRepo, HubState, hub_server

REPO = "cbir-test/tiny-clip"
KEY = "tiny-clip"


def tiny_model_files(folder: Path, seed: int = 0) -> dict[str, bytes]:
    from indexing.encoders.random_openclip import write_random_openclip

    write_random_openclip(folder, seed=seed)
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.fixture(scope="session")
def tiny_files(tmp_path_factory) -> dict[str, bytes]:
    return tiny_model_files(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture
def hub(tiny_files, monkeypatch, settings, tmp_path):
    """HF_ENDPOINT at a local hub holding REPO; CBIR_DATA_DIR in tmp_path; KEY in the catalogue."""
    state = HubState(repos={REPO: HubRepo(dict(tiny_files), lfs={"open_clip_pytorch_model.bin"})})
    settings.CBIR_DATA_DIR = tmp_path / "data"
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with hub_server(state) as endpoint:
        monkeypatch.setenv("HF_ENDPOINT", endpoint)
        model_register(
            KnownModel(
                key=KEY,
                title="Tiny random CLIP (tests)",
                kind="open_clip",
                openclip_model=f"hf-hub:{REPO}",
                repo_id=REPO,
                files=(
                    HubFile(("open_clip_config.json",)),
                    HubFile(("open_clip_model.safetensors", "open_clip_pytorch_model.bin")),
                ),
                download_bytes=sum(len(v) for v in tiny_files.values()),
            )
        )
        state.endpoint = endpoint  # type: ignore[attr-defined]
        try:
            yield state
        finally:
            model_unregister(KEY)


FAKE_KEY = "fake"
TINY_LOCAL_KEY = "tiny-local"


@pytest.fixture
def managed_models(tmp_path_factory):
    """The fake encoder and a random-weight tiny CLIP (local-dir:) as catalogue models."""
    from indexing.encoders.random_openclip import write_random_openclip

    folder = write_random_openclip(tmp_path_factory.mktemp("tiny-local") / "tiny", seed=3)
    model_register(KnownModel(key=FAKE_KEY, title="Fake colour encoder (tests)", kind="fake"))
    tiny = model_register(
        KnownModel(
            key=TINY_LOCAL_KEY,
            title="Tiny random CLIP, local folder (tests)",
            kind="open_clip",
            openclip_model=f"local-dir:{folder}",
        )
    )
    try:
        yield tiny
    finally:
        model_unregister(FAKE_KEY)
        model_unregister(TINY_LOCAL_KEY)
