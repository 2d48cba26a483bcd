"""Tiny generated datasets for the evaluation tests: solid colours the fake encoder understands.

The fake encoder maps an image to its mean colour and a text to the mean of
the colour words it names, so "red black" finds the dark red (128, 0, 0) image.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

from PIL import Image

# name -> (RGB, caption words whose mean colour is that RGB, COCO category)
COCO_IMAGES = {
    "000000000001.jpg": ((255, 0, 0), "a red square", "apple"),
    "000000000002.jpg": ((128, 0, 0), "red and black", "apple"),
    "000000000003.jpg": ((0, 0, 255), "a blue square", "sky"),
    "000000000004.jpg": ((0, 0, 128), "blue with black", "sky"),
    "000000000005.jpg": ((0, 255, 0), "green", "tree"),
    "000000000006.jpg": ((0, 128, 0), "green black", "tree"),
    "000000000007.jpg": ((255, 255, 0), "yellow", "banana"),
    "000000000008.jpg": ((128, 128, 0), "yellow black", "banana"),
}
CATEGORIES = {"apple": 1, "sky": 2, "tree": 3, "banana": 4, "person": 5}


def solid(path: Path, rgb: tuple[int, int, int], size: tuple[int, int] = (48, 40)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    Image.new("RGB", size, rgb).save(path, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return path


def make_coco(root: Path, *, split: str = "val2017", vague: bool = True) -> Path:
    """COCO layout with captions and instances; `vague` adds colourless captions ("a square")
    whose image ranks low, so that feedback has queries to refine."""
    images, captions, instances = [], [], []
    for n, (name, (rgb, words, category)) in enumerate(COCO_IMAGES.items(), start=1):
        solid(root / split / name, rgb)
        images.append({"id": n, "file_name": name, "width": 48, "height": 40})
        captions.append({"id": 100 + n, "image_id": n, "caption": words})
        captions.append({"id": 200 + n, "image_id": n, "caption": f"  {words.upper()}  thing "})
        if vague and n % 2:
            captions.append({"id": 300 + n, "image_id": n, "caption": "a square"})
        # The main category covers more area than a small person in every image.
        instances.append(
            {
                "id": 1000 + n,
                "image_id": n,
                "category_id": CATEGORIES[category],
                "area": 900.0 + 10 * n,
                "bbox": [0, 0, 30, 30],
            }
        )
        instances.append(
            {
                "id": 2000 + n,
                "image_id": n,
                "category_id": CATEGORIES["person"],
                "area": 50.0,
                "bbox": [0, 0, 5, 10],
            }
        )
    categories = [{"id": i, "name": name} for name, i in CATEGORIES.items()]
    annotations = root / "annotations"
    annotations.mkdir(parents=True, exist_ok=True)
    (annotations / f"captions_{split}.json").write_text(
        json.dumps({"images": images, "annotations": captions})
    )
    (annotations / f"instances_{split}.json").write_text(
        json.dumps({"images": images, "annotations": instances, "categories": categories})
    )
    return root


# gallery -> class -> colours: gallery "tight" has close colours, "loose" spread-out ones.
CLASS_COLOURS = {
    "tight": {
        "red": [(250, 10, 10), (240, 20, 15)],
        "green": [(10, 250, 10), (20, 240, 15)],
        "blue": [(10, 10, 250), (20, 15, 240)],
    },
    "loose": {
        "red": [(230, 40, 60), (200, 30, 0)],
        "green": [(40, 220, 90), (90, 200, 20)],
        "blue": [(60, 40, 220), (0, 90, 200)],
    },
}


def make_classes(root: Path) -> Path:
    """12 PNGs: root/<gallery>/<class>/<n>.png, two galleries of three classes."""
    for gallery, classes in CLASS_COLOURS.items():
        for label, colours in classes.items():
            for n, rgb in enumerate(colours):
                solid(root / gallery / label / f"{label}-{n}.png", rgb)
    return root


def make_roxford(folder: Path) -> tuple[Path, Path]:
    """A gnd_*.pkl like Revisited Oxford's, over 6 database images and 2 query images."""
    images = folder / "jpg"
    names = [f"oxford_{n:03d}" for n in range(6)]
    for n, name in enumerate(names):
        solid(images / f"{name}.jpg", (40 * n, 200 - 30 * n, 90))
    solid(images / "query_only.jpg", (10, 200, 90), size=(64, 64))
    gnd = [
        {"easy": [1, 2], "hard": [3], "junk": [4], "bbx": [1.0, 2.0, 30.0, 25.0]},
        {"easy": [], "hard": [5], "junk": [0, 1], "bbx": None},
    ]
    data = {"imlist": names, "qimlist": [names[0], "query_only"], "gnd": gnd}
    path = folder / "gnd_toyford.pkl"
    path.write_bytes(pickle.dumps(data))
    return path, images
