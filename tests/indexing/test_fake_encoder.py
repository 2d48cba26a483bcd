"""The deterministic test encoder: colours in, unit vectors out."""

from __future__ import annotations

import numpy as np
from PIL import Image

from indexing.encoders.base import EncoderConfig, create_encoder
from indexing.encoders.fake import FakeEncoder


def test_images_and_texts_share_a_space_where_colour_words_find_colours():
    enc = FakeEncoder()
    images = enc.encode_images([Image.new("RGB", (8, 8), c) for c in [(250, 5, 5), (5, 5, 250)]])
    texts = enc.encode_texts(["something red", "BLUE."])
    assert images.shape == (2, enc.dim) and images.dtype == np.float32
    assert np.allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-5)
    similarity = texts @ images.T
    assert similarity[0].argmax() == 0 and similarity[1].argmax() == 1


def test_encoding_is_deterministic_across_instances():
    image = [Image.new("RGB", (8, 8), (10, 120, 200))]
    assert np.array_equal(FakeEncoder().encode_images(image), FakeEncoder().encode_images(image))


def test_registry_builds_the_fake_encoder():
    assert create_encoder(EncoderConfig(kind="fake")).name == FakeEncoder.name
