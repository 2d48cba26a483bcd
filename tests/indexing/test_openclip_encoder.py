"""The open_clip encoder's real code path, with small random-weight models made here.

Model hubs are unreachable on development and CI machines, so weights are a
seeded random checkpoint of a tiny CLIP written as an open_clip `local-dir:`
folder. Similarities are meaningless; loading, preprocessing, tokenising,
shapes, normalisation and the error messages are real.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from indexing.encoders.base import (
    EncoderConfig,
    EncoderUnavailable,
    create_encoder,
    model_name_for,
    resolve_kind,
)
from indexing.encoders.openclip import encode_text_trimmed, resolve_weights
from indexing.encoders.random_openclip import write_random_openclip


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    return write_random_openclip(tmp_path_factory.mktemp("tiny-clip"), seed=7)


@pytest.fixture(scope="module")
def tiny(tiny_dir):
    return create_encoder(
        EncoderConfig(kind="open_clip", openclip_model=f"local-dir:{tiny_dir}", batch_size=2)
    )


def test_images_and_texts_come_out_unit_length_in_one_space(tiny):
    images = [Image.new("RGB", (50 + i, 40), (i * 50, 20, 200)) for i in range(3)]  # 2 batches
    vectors = tiny.encode_images(images)
    texts = tiny.encode_texts(["a dog", "a much longer description of a red bicycle"])
    assert vectors.shape == (3, tiny.dim) and texts.shape == (2, tiny.dim) and tiny.dim == 32
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert np.allclose(np.linalg.norm(texts, axis=1), 1, atol=1e-5)


def test_same_seed_same_weights_same_vectors(tiny, tiny_dir, tmp_path):
    again = create_encoder(
        EncoderConfig(
            kind="open_clip", openclip_model=f"local-dir:{write_random_openclip(tmp_path, seed=7)}"
        )
    )
    assert np.allclose(again.encode_texts(["a cat"]), tiny.encode_texts(["a cat"]), atol=1e-6)
    assert again.name.split("/")[-1] == tiny.name.split("/")[-1]  # identified by checkpoint content


def test_trimmed_text_encoding_equals_the_full_context(tiny):
    tokens = tiny._tokenizer(["a photo of a cat", "a photo of a small brown dog on a red sofa"])
    with torch.inference_mode():
        full = tiny._model.encode_text(tokens)
        trimmed = encode_text_trimmed(tiny._model, tokens)
    assert torch.allclose(full, trimmed, atol=1e-5)


def test_prompt_template_is_applied_to_queries(tiny_dir):
    plain = create_encoder(
        EncoderConfig(kind="open_clip", openclip_model=f"local-dir:{tiny_dir}", text_prompt="{}")
    )
    prompted = create_encoder(
        EncoderConfig(
            kind="open_clip", openclip_model=f"local-dir:{tiny_dir}", text_prompt="a photo of {}"
        )
    )
    assert np.allclose(
        prompted.encode_texts(["a cat"]), plain.encode_texts(["a photo of a cat"]), atol=1e-6
    )


def test_missing_pretrained_weights_name_the_settings_to_fix(tmp_path):
    config = EncoderConfig(
        kind="open_clip",
        openclip_model="ViT-B-32",
        openclip_pretrained="laion2b_s34b_b79k",
        openclip_cache_dir=str(tmp_path),
    )
    with pytest.raises(EncoderUnavailable) as info:
        create_encoder(config)
    message = str(info.value)
    assert "CBIR_OPENCLIP_PRETRAINED" in message and "CBIR_OPENCLIP_CACHE_DIR" in message
    assert "laion2b_s34b_b79k" in message


def test_unknown_tag_and_model_are_explained():
    with pytest.raises(EncoderUnavailable, match="tags:"):
        resolve_weights(
            EncoderConfig(kind="open_clip", openclip_model="ViT-B-32", openclip_pretrained="nope")
        )
    with pytest.raises(EncoderUnavailable, match="CBIR_OPENCLIP_MODEL"):
        resolve_weights(
            EncoderConfig(kind="open_clip", openclip_model="ViT-Q-99", openclip_pretrained="x")
        )


def test_local_dir_without_checkpoint_is_explained(tmp_path):
    (tmp_path / "open_clip_config.json").write_text(json.dumps({"model_cfg": {}}))
    with pytest.raises(EncoderUnavailable, match="no checkpoint"):
        resolve_weights(EncoderConfig(kind="open_clip", openclip_model=f"local-dir:{tmp_path}"))


def test_a_checkpoint_file_is_used_with_a_builtin_architecture(tiny_dir, tmp_path):
    checkpoint = tiny_dir / "open_clip_pytorch_model.bin"
    resolved = resolve_weights(
        EncoderConfig(
            kind="open_clip", openclip_model="ViT-B-32", openclip_pretrained=str(checkpoint)
        )
    )
    assert resolved.pretrained == str(checkpoint) and resolved.identity.startswith(
        "open_clip:ViT-B-32/file-"
    )


def test_cached_hub_weights_are_found_offline(tmp_path):
    # Lay out a Hugging Face cache the way a connected machine's download leaves it.
    repo = tmp_path / "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K"
    snapshot = repo / "snapshots" / "0123abc"
    snapshot.mkdir(parents=True)
    (snapshot / "open_clip_model.safetensors").write_bytes(b"weights")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abc")
    config = EncoderConfig(
        kind="auto",
        openclip_model="ViT-B-32",
        openclip_pretrained="laion2b_s34b_b79k",
        openclip_cache_dir=str(tmp_path),
    )
    resolved = resolve_weights(config)
    assert resolved.pretrained == str(snapshot / "open_clip_model.safetensors")
    assert resolved.preprocess["image_mean"][0] == pytest.approx(0.4814, abs=1e-3)
    assert resolve_kind(config) == "open_clip"  # auto prefers open_clip when its weights are here
    assert model_name_for(config) == "open_clip:ViT-B-32/laion2b_s34b_b79k"


def test_auto_falls_back_to_the_bundled_encoder_without_weights(tmp_path):
    config = EncoderConfig(kind="auto", openclip_cache_dir=str(tmp_path))
    assert resolve_kind(config) == "bundled"
    assert model_name_for(config).startswith("bundled:")


def test_unknown_encoder_kind_fails_loudly():
    with pytest.raises(EncoderUnavailable, match="CBIR_ENCODER"):
        resolve_kind(EncoderConfig(kind="magic"))
