"""The heat map drawn over a picture as a PNG, with Pillow only (no matplotlib).

The colour map is our own: a few anchor colours from dark blue (cold) through
teal and yellow to red (hot), interpolated linearly, with opacity rising with
the heat so that cold regions leave the picture visible.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

# heat 0 .. 1 -> RGB anchors, evenly spaced
ANCHORS = np.asarray(
    [(20, 30, 120), (0, 150, 170), (250, 220, 40), (230, 40, 30)], dtype=np.float32
)
MAX_ALPHA = 0.6


def colour_map(heat: np.ndarray) -> np.ndarray:
    """(h, w) in [0, 1] -> (h, w, 3) uint8."""
    h = np.clip(np.nan_to_num(np.asarray(heat, np.float32)), 0.0, 1.0) * (len(ANCHORS) - 1)
    low = np.minimum(h.astype(np.int32), len(ANCHORS) - 2)
    frac = (h - low)[..., None]
    rgb = ANCHORS[low] * (1 - frac) + ANCHORS[low + 1] * frac
    return rgb.round().astype(np.uint8)


def upsampled(grid: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The low-resolution grid smoothly resized to (width, height)."""
    field = Image.fromarray(np.asarray(grid, np.float32), mode="F")
    return np.asarray(field.resize(size, Image.Resampling.BILINEAR), np.float32)


def overlay_png(picture: Image.Image, grid: np.ndarray, *, max_side: int = 512) -> bytes:
    """The picture (reduced to at most `max_side`) with the heat map blended over it."""
    base = picture.convert("RGB")
    base.thumbnail((max_side, max_side))
    heat = np.clip(upsampled(grid, base.size), 0.0, 1.0)
    colours = colour_map(heat).astype(np.float32)
    alpha = (MAX_ALPHA * heat)[..., None]
    blended = np.asarray(base, np.float32) * (1 - alpha) + colours * alpha
    out = io.BytesIO()
    Image.fromarray(blended.round().astype(np.uint8)).save(out, format="PNG", optimize=True)
    return out.getvalue()
