"""Experiment helpers with known answers: breaking-rank bookkeeping, composed examples, report."""

from __future__ import annotations

import math
from pathlib import Path

from django.conf import settings

from evaluation.datasets import coco_captions
from evaluation.experiments.common import Options, subsample
from evaluation.experiments.composed import example_for, examples_by_target
from evaluation.experiments.feedback import _iterations
from evaluation.report import Table, _plain, _table, format_cell
from tests.evaluation.fixtures import make_coco

# First-relevant rank of four queries along their refinement chains (None: not returned).
CHAINS = [[1], [3, 1], [4, 6, 2], [None, 2, 1]]


def test_breaking_rank_1_refines_every_query_not_at_rank_1():
    out = _iterations(CHAINS, 1, Options(iterations=2))
    assert out == [([1, 3, 4, None], 0), ([1, 1, 6, 2], 3), ([1, 1, 2, 1], 2)]


def test_breaking_rank_5_keeps_queries_already_in_the_top_5():
    out = _iterations(CHAINS, 5, Options(iterations=2))
    assert out == [([1, 3, 4, None], 0), ([1, 3, 4, 2], 1), ([1, 3, 4, 2], 0)]


def test_subsample_is_evenly_spaced_and_stable():
    assert subsample(list(range(10)), 4) == [0, 2, 5, 7]
    assert subsample(list(range(3)), 10) == [0, 1, 2]
    assert subsample(list(range(3)), None) == [0, 1, 2]


def test_composed_example_shares_the_main_category_and_is_never_the_target(tmp_path):
    dataset = coco_captions(make_coco(tmp_path / "coco"))
    loaded = {item.key: n for n, item in enumerate(dataset.items)}
    examples = examples_by_target(dataset, loaded)
    # apple: image 2 has the larger apple area (920 vs 910), so image 1 gets 2 and 2 gets 1
    assert examples["000000000001.jpg"] == "000000000002.jpg"
    assert examples["000000000002.jpg"] == "000000000001.jpg"
    query = next(q for q in dataset.queries if q.relevant == {"000000000003.jpg"})
    assert example_for(query, examples) == "000000000004.jpg"


def test_composed_example_skips_the_same_file_under_another_name(tmp_path):
    dataset = coco_captions(make_coco(tmp_path / "coco"))
    loaded = {item.key: n for n, item in enumerate(dataset.items)}
    loaded["000000000002.jpg"] = loaded["000000000001.jpg"]  # identical bytes
    assert "000000000001.jpg" not in examples_by_target(dataset, loaded)


def test_cells_and_json_values():
    assert format_cell(0.12345) == "0.123" and format_cell(3.0, rank_like=True) == "3.00"
    assert format_cell(None) == "–" and format_cell(float("nan")) == "–"
    assert format_cell(123.456) == "123.46"
    assert _plain({1: math.inf, "x": (1, 2)}) == {"1": None, "x": [1, 2]}

    # Paths: relative inside the checkout, only the folder's name outside it.
    root = Path(settings.BASE_DIR).resolve()
    assert _plain(root / "docs" / "evaluation") == "docs/evaluation"
    assert _plain(Path("/srv/datasets/coco-mini")) == "coco-mini"
    lines = _table(Table("T", ["Encoder", "R@1", "Med r"], [["fake", 0.5, 2.0]], ["a note"]))
    assert lines[2:5] == ["| Encoder | R@1 | Med r |", "|---|---:|---:|", "| fake | 0.500 | 2.00 |"]
