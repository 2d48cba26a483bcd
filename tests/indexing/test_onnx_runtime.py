"""CBIR_ENCODER_RUNTIME: the image tower through ONNX Runtime agrees with torch.

Real weights (the bundled encoder's EfficientNet-Lite0, a seeded random open_clip),
a real torch.onnx export and real onnxruntime sessions.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from galleries.samples import sample_photos
from indexing.encoders.base import EncoderConfig, EncoderUnavailable, create_encoder, model_name_for
from indexing.encoders.onnx_runtime import load_image_model, onnx_path

pytest.importorskip("onnxruntime")

REPO = Path(__file__).resolve().parents[2]


def _pictures() -> list[Image.Image]:
    photos = [Image.open(io.BytesIO(data)).convert("RGB") for _, data in sample_photos()[:6]]
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, 256, dtype=np.float32)
    for _ in range(2):  # generated: coloured gradients with noise
        r, g = np.meshgrid(ramp * rng.uniform(0.3, 1), ramp[::-1] * rng.uniform(0.3, 1))
        pixels = np.stack([r, g, rng.uniform(0, 255, r.shape)], axis=-1)
        photos.append(Image.fromarray(pixels.astype(np.uint8)))
    return photos


def _mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.sum(a * b, axis=1)))


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("onnx")
    return {"cache": str(root / "cache"), "onnx": str(root / "models" / "onnx")}


def _bundled(folders, runtime: str):
    return create_encoder(
        EncoderConfig(
            kind="bundled",
            cache_dir=folders["cache"],
            onnx_cache_dir=folders["onnx"],
            runtime=runtime,
            threads=2,
        )
    )


@pytest.mark.slow
def test_bundled_onnx_vectors_agree_with_torch_and_the_export_is_cached(folders):
    pictures = _pictures()
    reference = _bundled(folders, "torch").encode_images(pictures)

    fp32 = _bundled(folders, "onnx")
    exported = sorted(Path(folders["onnx"]).glob("*-onnx.onnx"))
    assert len(exported) == 1
    stamp = exported[0].stat().st_mtime_ns
    vectors = fp32.encode_images(pictures)
    assert vectors.shape == reference.shape
    assert _mean_cosine(vectors, reference) >= 0.999
    assert fp32.name == _bundled_name("torch")  # near-identical vectors keep the model name

    int8 = _bundled(folders, "onnx-int8")
    # The fp32 graph was not exported again; the int8 one sits beside it.
    assert exported[0].stat().st_mtime_ns == stamp
    assert len(list(Path(folders["onnx"]).glob("*-onnx-int8.onnx"))) == 1
    assert _mean_cosine(int8.encode_images(pictures), reference) >= 0.98
    assert int8.name == _bundled_name("onnx-int8") != fp32.name
    assert not list(Path(folders["onnx"]).glob("*.tmp.onnx"))  # nothing half-written left


def _bundled_name(runtime: str) -> str:
    return model_name_for(EncoderConfig(kind="bundled", runtime=runtime))


def test_openclip_visual_tower_through_onnx(tmp_path):
    from indexing.encoders.random_openclip import write_random_openclip

    folder = write_random_openclip(tmp_path / "tiny")
    config = EncoderConfig(
        kind="open_clip", openclip_pretrained=None, openclip_model=f"local-dir:{folder}"
    )
    pictures = _pictures()
    reference = create_encoder(config).encode_images(pictures)
    onnx_dir = tmp_path / "onnx"
    from dataclasses import replace

    encoder = create_encoder(replace(config, runtime="onnx", onnx_cache_dir=str(onnx_dir)))
    assert _mean_cosine(encoder.encode_images(pictures), reference) >= 0.999
    assert encoder.name == model_name_for(config)
    assert len(list(onnx_dir.glob("*-onnx.onnx"))) == 1


def test_second_load_reuses_the_export(tmp_path):
    import torch

    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1))
    kwargs = dict(identity="tiny/conv", runtime="onnx", input_shape=(1, 3, 8, 8))
    first = load_image_model(module, cache_dir=tmp_path, **kwargs)
    path = onnx_path(tmp_path, "tiny/conv", "onnx")
    assert first.path == path and path.is_file()
    stamp = path.stat().st_mtime_ns
    batch = np.random.default_rng(1).normal(size=(5, 3, 8, 8)).astype(np.float32)
    second = load_image_model(module, cache_dir=tmp_path, **kwargs)
    assert path.stat().st_mtime_ns == stamp
    with torch.no_grad():
        expected = module(torch.from_numpy(batch)).numpy()
    assert np.allclose(second(batch), expected, atol=1e-5)  # dynamic batch: 5, exported with 2


def test_bad_runtime_value_fails_clearly(tmp_path):
    with pytest.raises(EncoderUnavailable, match="CBIR_ENCODER_RUNTIME"):
        model_name_for(EncoderConfig(kind="bundled", runtime="tensorrt"))
    env = {**os.environ, "CBIR_ENCODER_RUNTIME": "tensorrt", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**env, "DJANGO_SETTINGS_MODULE": "cbir_site.settings"},
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode != 0
    assert "CBIR_ENCODER_RUNTIME='tensorrt' is not one of" in result.stderr


def test_missing_onnxruntime_names_the_setting(tmp_path, monkeypatch):
    import torch

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    with pytest.raises(EncoderUnavailable, match="CBIR_ENCODER_RUNTIME=torch"):
        load_image_model(
            torch.nn.Identity(),
            identity="x",
            runtime="onnx",
            input_shape=(1, 3, 4, 4),
            cache_dir=tmp_path,
        )
    assert not list(tmp_path.iterdir())  # nothing exported before the refusal
