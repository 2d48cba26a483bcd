"""A deterministic encoder for fast tests: colours are its whole world.

An image maps to its mean colour; a text maps to the colour words it names
("a red square" -> red). So "red" finds the reddest image, and tests can
know the right answer without any model. A small fixed projection spreads
the 3 colour channels over `dim` dimensions so that vectors look like real
embeddings (unit length, many dimensions).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from indexing.encoders.base import EncoderConfig, l2_normalise, register

COLOURS = {
    "red": (1.0, 0.0, 0.0),
    "green": (0.0, 1.0, 0.0),
    "blue": (0.0, 0.0, 1.0),
    "yellow": (1.0, 1.0, 0.0),
    "cyan": (0.0, 1.0, 1.0),
    "magenta": (1.0, 0.0, 1.0),
    "white": (1.0, 1.0, 1.0),
    "grey": (0.5, 0.5, 0.5),
    "gray": (0.5, 0.5, 0.5),
    "black": (0.0, 0.0, 0.0),
}


class FakeEncoder:
    name = "fake:colour-v1"
    image_size = 32

    def __init__(self, dim: int = 16):
        self.dim = dim
        rng = np.random.default_rng(1234)
        # Orthonormal columns: a projection that keeps angles between colour vectors.
        q, _ = np.linalg.qr(rng.standard_normal((dim, 4)))
        self._projection = q.astype(np.float32)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        rows = []
        for img in images:
            small = np.asarray(img.convert("RGB").resize((8, 8)), dtype=np.float32) / 255.0
            rows.append(self._embed(small.reshape(-1, 3).mean(axis=0)))
        return np.stack(rows) if rows else np.zeros((0, self.dim), np.float32)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        rows = []
        for text in texts:
            words = [w.strip(".,;!?").lower() for w in text.split()]
            named = [COLOURS[w] for w in words if w in COLOURS]
            rgb = np.mean(named, axis=0) if named else np.full(3, 0.5)
            rows.append(self._embed(np.asarray(rgb, np.float32)))
        return np.stack(rows) if rows else np.zeros((0, self.dim), np.float32)

    def _embed(self, rgb: np.ndarray) -> np.ndarray:
        # Centre the colour cube so that black and white point in opposite directions;
        # the constant 4th component keeps grey (the centre) a valid unit vector.
        centred = np.append(rgb - 0.5, 0.1).astype(np.float32)
        return l2_normalise(self._projection @ centred)


@register("fake", model_name=lambda config: FakeEncoder.name)
def _create(config: EncoderConfig) -> FakeEncoder:
    return FakeEncoder()
