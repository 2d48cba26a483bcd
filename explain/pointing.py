"""The pointing game (Zhang et al., ECCV 2016) on COCO instance annotations. Pure core.

For every (image, category present) pair, the query names the category
("a photo of a dog"); a heat map hits when its maximum lies inside a box of
that category, with the paper's 15-pixel tolerance. Two baselines need no
model: the image's centre point, and a uniformly random point (its expected
hit rate: the share of the image covered by the tolerant boxes). The
"difficult" subset is the paper's: the category's boxes cover less than a
quarter of the image and another category is present too.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TOLERANCE_PX = 15


@dataclass(frozen=True)
class Pair:
    file: Path
    width: int
    height: int
    category: str
    boxes: tuple[tuple[float, float, float, float], ...]  # x, y, w, h of this category
    difficult: bool


def coco_pairs(root: Path, split: str = "val2017") -> list[Pair]:
    data = json.loads((root / "annotations" / f"instances_{split}.json").read_text())
    names = {c["id"]: c["name"] for c in data["categories"]}
    boxes: dict[int, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for ann in data["annotations"]:
        if not ann.get("iscrowd"):
            boxes[ann["image_id"]][names[ann["category_id"]]].append(tuple(ann["bbox"]))
    pairs = []
    for image in sorted(data["images"], key=lambda i: i["id"]):
        by_category = boxes.get(image["id"], {})
        for category in sorted(by_category):
            w, h = image["width"], image["height"]
            covered = _covered(by_category[category], w, h, 0).mean()
            pairs.append(
                Pair(
                    file=root / split / image["file_name"],
                    width=w,
                    height=h,
                    category=category,
                    boxes=tuple(by_category[category]),
                    difficult=bool(covered < 0.25 and len(by_category) > 1),
                )
            )
    return pairs


def _covered(boxes: list | tuple, width: int, height: int, tolerance: int) -> np.ndarray:
    mask = np.zeros((height, width), bool)
    for x, y, w, h in boxes:
        x0, y0 = max(int(x) - tolerance, 0), max(int(y) - tolerance, 0)
        x1, y1 = (
            min(int(np.ceil(x + w)) + tolerance, width),
            min(int(np.ceil(y + h)) + tolerance, height),
        )
        mask[y0:y1, x0:x1] = True
    return mask


def hits(pair: Pair, x: float, y: float) -> bool:
    """Is the point (pixels) within TOLERANCE_PX of a box of the pair's category?"""
    for bx, by, bw, bh in pair.boxes:
        dx = max(bx - x, 0.0, x - (bx + bw))
        dy = max(by - y, 0.0, y - (by + bh))
        if dx * dx + dy * dy <= TOLERANCE_PX * TOLERANCE_PX:
            return True
    return False


def random_hit_rate(pair: Pair) -> float:
    """The expected hit rate of a uniformly random point (square tolerance: a close bound)."""
    return float(_covered(pair.boxes, pair.width, pair.height, TOLERANCE_PX).mean())


def peak_pixel(grid: np.ndarray, width: int, height: int) -> tuple[float, float]:
    """The maximum of the grid bilinearly upsampled to the image (ties: the first)."""
    from explain.overlay import upsampled

    scale = max(width, height) / 256  # a 256-pixel field is fine enough for a 7x7 grid
    w, h = max(int(width / scale), 1), max(int(height / scale), 1)
    field = upsampled(grid, (w, h))
    r, c = np.unravel_index(int(np.argmax(field)), field.shape)
    return (c + 0.5) * width / w, (r + 0.5) * height / h


@dataclass
class Tally:
    hits: float = 0  # a hit is 1; the random baseline adds its expected hit rate
    total: int = 0
    hits_difficult: float = 0
    total_difficult: int = 0

    def add(self, hit: bool | float, difficult: bool) -> None:
        self.hits += hit
        self.total += 1
        if difficult:
            self.hits_difficult += hit
            self.total_difficult += 1

    def rates(self) -> tuple[float, float]:
        return self.hits / max(self.total, 1), self.hits_difficult / max(self.total_difficult, 1)


def by_image(pairs: list[Pair]) -> Iterator[tuple[Path, list[Pair]]]:
    grouped: dict[Path, list[Pair]] = defaultdict(list)
    for pair in pairs:
        grouped[pair.file].append(pair)
    yield from grouped.items()
