"""Heat maps: they point at the right place, and their cost stays within its bounds."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image

from explain.heatmaps import (
    Budget,
    MethodUnavailable,
    explain_heatmap,
    methods_for,
    occlusion_grid,
)
from explain.overlay import colour_map, overlay_png
from indexing.encoders.base import EncoderConfig, create_encoder
from indexing.encoders.fake import FakeEncoder


def scene(
    patch: Image.Image, *, corner: str, size: int = 480, ground=(128, 128, 128)
) -> Image.Image:
    canvas = Image.new("RGB", (size, size), ground)
    w, h = patch.size
    x = 0 if "left" in corner else size - w
    y = 0 if "top" in corner else size - h
    canvas.paste(patch, (x, y))
    return canvas


def in_corner(peak: tuple[float, float], corner: str) -> bool:
    x, y = peak
    return (x < 0.5) == ("left" in corner) and (y < 0.5) == ("top" in corner)


@pytest.mark.parametrize("corner", ["top left", "bottom right"])
def test_occlusion_finds_the_red_square_the_query_names(corner):
    encoder = FakeEncoder()
    picture = scene(Image.new("RGB", (160, 160), (250, 10, 10)), corner=corner)
    heat = explain_heatmap(
        "occlusion", encoder, picture, encoder.encode_texts(["red"])[0], budget=Budget()
    )
    assert heat.complete and heat.grid.shape == (7, 7)
    assert in_corner(heat.peak(), corner), heat.grid.round(2)


@pytest.mark.parametrize("max_passes", [2, 5, 10, 17, 26, 37, 64, 100])
def test_the_occlusion_grid_fits_the_pass_budget(max_passes):
    grid, window = occlusion_grid(Budget(max_passes=max_passes, grid=9))
    assert (grid - window + 1) ** 2 + 1 <= max_passes
    heat = explain_heatmap(
        "occlusion",
        FakeEncoder(),
        Image.new("RGB", (64, 48), "blue"),
        FakeEncoder().encode_texts(["blue"])[0],
        budget=Budget(max_passes=max_passes, grid=9),
    )
    assert heat.passes <= max_passes


class SlowEncoder(FakeEncoder):
    batch_size = 4

    def encode_images(self, images):  # type: ignore[no-untyped-def]
        time.sleep(0.05 * len(images))
        return super().encode_images(images)


def test_the_time_budget_stops_occlusion_early_and_says_so():
    encoder = SlowEncoder()
    started = time.perf_counter()
    heat = explain_heatmap(
        "occlusion",
        encoder,
        Image.new("RGB", (300, 200), "red"),
        encoder.encode_texts(["red"])[0],
        budget=Budget(max_passes=64, time_s=0.3, grid=7),
    )
    elapsed = time.perf_counter() - started
    assert not heat.complete and heat.passes < 37
    assert elapsed < 0.3 + 0.05 * (1 + encoder.batch_size) + 0.3  # one batch past the budget


def test_clipseg_is_unavailable_without_its_weights(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    encoder = FakeEncoder()
    assert methods_for(encoder) == ["occlusion"]
    with pytest.raises(MethodUnavailable, match="clipseg"):
        explain_heatmap(
            "clipseg", encoder, Image.new("RGB", (32, 32)), np.ones(16), budget=Budget()
        )


def test_the_colour_map_runs_from_cold_blue_to_hot_red():
    cold, hot = colour_map(np.array([[0.0, 1.0]]))[0]
    assert cold[2] > cold[0] and hot[0] > hot[2]
    png = overlay_png(Image.new("RGB", (800, 400), "white"), np.eye(3), max_side=256)
    assert Image.open(__import__("io").BytesIO(png)).size == (256, 128)


def test_patch_tokens_of_an_open_clip_vit_give_its_patch_grid(tmp_path):
    from indexing.encoders.random_openclip import write_random_openclip

    folder = write_random_openclip(tmp_path / "tiny")
    encoder = create_encoder(
        EncoderConfig(
            kind="open_clip", openclip_model=f"local-dir:{folder}", openclip_pretrained=""
        )
    )
    assert methods_for(encoder)[0] == "patch_tokens"
    query = encoder.encode_texts(["a cat"])[0]
    heat = explain_heatmap(
        "patch_tokens", encoder, Image.new("RGB", (90, 60), "red"), query, budget=Budget()
    )
    assert heat.grid.shape == (4, 4) and heat.passes == 1
    assert heat.grid.min() >= 0.0 and heat.grid.max() <= 1.0


@pytest.fixture(scope="module")
def bundled():
    return create_encoder(EncoderConfig(kind="bundled"))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["cam", "occlusion"])
@pytest.mark.parametrize("corner", ["top left", "bottom right"])
def test_the_bundled_encoder_points_at_the_cat_in_its_corner(bundled, method, corner):
    from skimage.data import chelsea

    cat = Image.fromarray(chelsea())  # 451 x 300
    cat.thumbnail((260, 260))
    picture = scene(cat, corner=corner, size=560, ground=(200, 200, 200))
    query = bundled.encode_texts(["a cat"])[0]
    heat = explain_heatmap(method, bundled, picture, query, budget=Budget())
    assert in_corner(heat.peak(), corner), heat.grid.round(2)
    assert heat.passes <= Budget().max_passes
