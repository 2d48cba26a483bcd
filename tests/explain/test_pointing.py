"""The pointing game's scoring, and the command end to end on a tiny COCO-format dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.core.management import call_command
from PIL import Image

from explain.pointing import Pair, coco_pairs, hits, peak_pixel, random_hit_rate


def pair(boxes, width=200, height=100, difficult=False) -> Pair:  # type: ignore[no-untyped-def]
    return Pair(None, width, height, "cat", tuple(boxes), difficult)  # type: ignore[arg-type]


def test_a_point_within_15_pixels_of_a_box_hits():
    p = pair([(50, 20, 30, 30)])
    assert hits(p, 60, 30) and hits(p, 50 - 15, 30) and hits(p, 80 + 10, 50 + 10)
    assert not hits(p, 50 - 16, 30) and not hits(p, 80 + 11, 50 + 12)


def test_a_random_points_expected_hit_rate_is_the_covered_share():
    assert random_hit_rate(pair([(0, 0, 200, 100)])) == 1.0
    assert random_hit_rate(pair([(100, 0, 100, 100)])) == pytest.approx(115 / 200)


def test_the_peak_is_found_in_image_pixels():
    grid = np.zeros((4, 4), np.float32)
    grid[3, 0] = 1.0
    x, y = peak_pixel(grid, 400, 200)
    assert x < 100 and y > 150


def write_dataset(root, size=(160, 120)):  # type: ignore[no-untyped-def]
    (root / "annotations").mkdir(parents=True)
    (root / "val2017").mkdir()
    picture = Image.new("RGB", size, (128, 128, 128))
    picture.paste((250, 10, 10), (0, 0, 100, 80))
    picture.save(root / "val2017" / "1.jpg")
    data = {
        "images": [{"id": 1, "file_name": "1.jpg", "width": size[0], "height": size[1]}],
        "categories": [{"id": 3, "name": "car"}, {"id": 1, "name": "person"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 3, "bbox": [0, 0, 100, 80], "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [100, 60, 20, 20], "iscrowd": 0},
            {"id": 3, "image_id": 1, "category_id": 1, "bbox": [0, 0, 160, 120], "iscrowd": 1},
        ],
    }
    (root / "annotations" / "instances_val2017.json").write_text(json.dumps(data))


def test_coco_pairs_leave_crowds_out_and_mark_the_difficult_ones(tmp_path):
    write_dataset(tmp_path)
    pairs = coco_pairs(tmp_path)
    # car covers 42% of the picture; person under a quarter, with a car beside it: difficult
    assert [(p.category, len(p.boxes), p.difficult) for p in pairs] == [
        ("car", 1, False),
        ("person", 1, True),
    ]


def test_the_command_writes_a_report_with_baselines_and_every_method(tmp_path):
    write_dataset(tmp_path / "coco")
    out = tmp_path / "report"
    call_command(
        "cbir_explain_evaluate",
        str(tmp_path / "coco"),
        "--encoders",
        "random-vit",
        "--work-dir",
        str(tmp_path / "work"),
        "--out",
        str(out),
    )
    results = json.loads((out / "results.json").read_text())
    assert results["pairs"] == 2
    assert {m["method"] for m in results["methods"]} == {"patch_tokens", "occlusion"}
    assert all(m["passes_max"] <= results["budget"]["max_passes"] for m in results["methods"])
    text = (out / "report.md").read_text()
    assert "centre point" in text and "random weights: meaningless" in text
