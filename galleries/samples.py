"""Real photographs that ship inside the scikit-image wheel (no download).

Used to seed the demo gallery and by the retrieval tests: "a cat" must find
chelsea, "a cup of coffee" must find coffee.
"""

from __future__ import annotations

import io

import numpy as np

# name -> a short description (used as the demo caption / filename)
SAMPLE_PHOTOS = {
    "chelsea": "a tabby cat",
    "coffee": "a cup of coffee",
    "rocket": "a rocket on the launch pad",
    "astronaut": "an astronaut portrait",
    "camera": "a man with a camera",
    "coins": "old coins",
    "clock": "a wall clock",
    "hubble_deep_field": "galaxies in deep space",
    "immunohistochemistry": "stained tissue under a microscope",
    "moon": "the surface of the moon",
    "retina": "a retina photograph",
    "brick": "a brick wall",
    "grass": "grass",
    "gravel": "gravel",
    "page": "a page of printed text",
    "horse": "a horse silhouette",
}


def sample_photo_png(name: str) -> bytes:
    import skimage.data

    array = getattr(skimage.data, name)()
    if array.dtype == bool:
        array = np.where(array, 0, 255).astype(np.uint8)  # the horse: black on white
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def sample_photos(names: list[str] | None = None) -> list[tuple[str, bytes]]:
    return [(f"{name}.png", sample_photo_png(name)) for name in (names or list(SAMPLE_PHOTOS))]
