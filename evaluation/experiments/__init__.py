"""The evaluation's experiments, by name; the command makes a --<name> flag of each.

An experiment is a function Context -> report.Section. "retrieval" is run
once per encoder (and fused) by the runner; the others run with the first
encoder.

A new experiment is a module here with `run(ctx) -> Section` and an entry
below; the command makes the flag from this registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evaluation.experiments.common import Context
    from evaluation.report import Section


@dataclass(frozen=True)
class Experiment:
    name: str
    help: str
    module: str  # imported when the experiment runs (they need Django set up)

    def runner(self) -> Callable[[Context], Section]:
        from importlib import import_module

        return import_module(f"evaluation.experiments.{self.module}").run


EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (
        Experiment(
            "retrieval",
            "text→image Recall@1/5/10 and ranks; image→image mAP@K, P/R@K (the default)",
            "retrieval",
        ),
        Experiment(
            "feedback",
            "pseudo-relevance feedback: iterations 0-2, P in {3, 5}, breaking rank in {1, 5, 10}",
            "feedback",
        ),
        Experiment(
            "composed",
            "caption + example image (COCO instances): text, weighted sum, two-phase",
            "composed",
        ),
        Experiment(
            "negatives",
            '"<caption>, not <absent object>" (COCO instances) at several negative weights: '
            "target rank, unrelated and negated shares of the top 10; picks the default",
            "negatives",
        ),
        Experiment(
            "thresholds",
            "static vs dynamic vs query-time thresholds: macro P/R/F1 (image queries)",
            "thresholds",
        ),
        Experiment(
            "expansion",
            "collection expansion from simulated feedback: 2 captions per image confirmed, the "
            "others searched, with and without text expansion and hot-image refinement",
            "expansion",
        ),
        Experiment(
            "cutoffs",
            "cutoffs per query kind and mode over all galleries: top-k, static, dynamic, "
            "query-time, and text calibration (qbnorm, autocut, mixture); macro P/R/F1, P@10",
            "cutoffs",
        ),
        Experiment(
            "hashing",
            "semantic hashing (mean, median; with and without re-rank) vs float vectors",
            "hashing",
        ),
    )
}
