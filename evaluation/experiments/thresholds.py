"""Threshold retrieval: static vs dynamic vs query-time cutoffs (seeds/000), macro P/R/F1.

Each image query searches its own gallery, as in the dynamic-threshold
paper. m_g comes from the platform's statistics service
(gallery_statistics_update); M is the mean over this dataset's galleries
(statistics of other galleries of the model are dropped first: they are
derived data, recomputed by the periodic refresh). T_static, and (T_static,
w) for the dynamic and query-time variants, are grid-fitted for macro F1 on
the fit split (search/threshold_fit.py), then the platform's own searches
in modes static / dynamic / query measure them on the test split.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from django.test.utils import override_settings

from evaluation.datasets import Query
from evaluation.experiments.common import Context
from evaluation.metrics import MacroPRF, macro_prf
from evaluation.report import Plot, Section, Series, Table
from search.config import search_config
from search.models import GalleryStatistics
from search.request import Mode, SearchRequest
from search.services import search_images
from search.statistics import gallery_statistics_update, global_mean_for
from search.threshold_fit import RankedLists, dynamic_thresholds, fit_thresholds_refined
from search.thresholds import distance_from_similarity

WEIGHT_RANGE = (-2.0, 4.0)  # as benchmarks/bench_thresholds.py
MODES = {"static": "static", "dynamic": "dynamic", "query-time": "query"}


@dataclass
class _Asked:
    query: Query
    own: int
    gallery: Any  # Gallery
    relevant: set[int]
    distances: np.ndarray
    flags: np.ndarray


def run(ctx: Context) -> Section:
    section = Section(name="thresholds", title="Threshold retrieval: static, dynamic, query-time")
    statistics, overall = _statistics(ctx)
    asked = [a for q in ctx.bar(_queries(ctx), "thresholds: rank") if (a := _ask(ctx, q))]
    fit_part = [a for a in asked if a.query.split == "fit"]
    test_part = [a for a in asked if a.query.split != "fit"]
    if not fit_part:  # no fit/test labels in the dataset: alternate
        fit_part, test_part = asked[0::2], asked[1::2]
    if not fit_part or not test_part or overall is None:
        section.notes.append("Needs image queries in galleries of 2+ images on both splits.")
        return section
    n = search_config().threshold_neighbours
    fit_ranked, test_ranked = _ranked(fit_part), _ranked(test_part)
    stats = {
        "static": (None, None),
        "dynamic": (_gallery_stat(fit_part, statistics), _gallery_stat(test_part, statistics)),
        "query-time": (fit_ranked.nearest_mean(n), test_ranked.nearest_mean(n)),
    }
    rows, points, data = [], [], {}
    for method, (fit_stat, test_stat) in stats.items():
        fit = fit_thresholds_refined(
            fit_ranked,
            weight_range=(0.0, 0.0) if fit_stat is None else WEIGHT_RANGE,
            statistic=fit_stat,
            overall_mean=overall,
        )
        measured = _platform(ctx, test_part, MODES[method], fit.static, fit.weight)
        thresholds = dynamic_thresholds(
            np.zeros(len(test_part)) if test_stat is None else test_stat,
            overall,
            fit.static,
            fit.weight,
        )
        offline = float(test_ranked.scores_at(thresholds)[2].mean())
        rows.append(
            [
                method,
                fit.static,
                fit.weight,
                fit.f1,
                measured.precision,
                measured.recall,
                measured.f1,
                offline,
                measured.mean_returned,
            ]
        )
        points.append(Series(method, [measured.recall], [measured.precision], style="points"))
        data[method] = {"fit": fit, "test": measured, "offline_test_f1": offline}
    top_p, top_r, top_f = (v.mean() for v in test_ranked.scores_top_k(10))
    top_size = float(np.minimum(np.diff(test_ranked.offsets), 10).mean())
    rows.append(["top-10 (no threshold)", None, None, None, top_p, top_r, top_f, top_f, top_size])
    section.tables.append(
        Table(
            title=f"Macro precision, recall and F1 on the test split ({len(test_part)} queries; "
            f"fitted on {len(fit_part)})",
            columns=[
                "Cutoff",
                "T_static",
                "w",
                "F1 (fit)",
                "P",
                "R",
                "F1",
                "F1 offline",
                "Returned",
            ],
            rows=rows,
            notes=[
                f"Distances are Euclidean between unit vectors; n = {n} neighbours; M = "
                f"{overall:.4f} over {len(statistics)} galleries. P, R, F1: the platform's "
                "searches (mode static / dynamic / query); F1 offline: the same cutoffs applied "
                "to the ranked distances (a consistency check). Returned: mean result-set size.",
            ],
        )
    )
    section.plots.append(_pr_plot(test_ranked, points))
    section.data = {
        "neighbours": n,
        "global_mean": overall,
        "gallery_means": statistics,
        "fit_queries": len(fit_part),
        "test_queries": len(test_part),
        "methods": data,
    }
    return section


def _queries(ctx: Context) -> list[Query]:
    return [q for q in ctx.queries("image") if ctx.stored_id(q) is not None]


def _statistics(ctx: Context) -> tuple[dict[int, float], float | None]:
    galleries = list(ctx.loaded.galleries.values())
    GalleryStatistics.objects.filter(model_name=ctx.model_name).exclude(
        gallery__in=galleries
    ).delete()
    out = {}
    with override_settings(CBIR_THRESHOLD_MIN_IMAGES=2):  # small evaluation galleries count too
        for gallery in galleries:
            row = gallery_statistics_update(gallery_id=gallery.pk, model_name=ctx.model_name)
            if row is not None:
                out[gallery.pk] = row.mean_distance
    return out, global_mean_for(ctx.model_name)


def _ask(ctx: Context, query: Query) -> _Asked | None:
    """The query's whole own gallery, ranked by the platform, as distances and relevance."""
    own = ctx.stored_id(query)
    item = ctx.dataset.item(query.item_key or "")
    if own is None or item is None:
        return None
    gallery = ctx.loaded.galleries[item.gallery]
    result = search_images(
        user=ctx.loaded.user,
        load_hits=False,  # scored by `ranked` alone: no image rows
        request=SearchRequest(
            gallery_slugs=[gallery.slug], k=ctx.k, mode=Mode.TOPK, image_ids=[own]
        ),
    )
    ids = [i for i, _ in result.ranked]  # k >= the gallery's size: all of it
    relevant = ctx.relevant(query) & set(ids)
    if not relevant:
        return None
    distances = distance_from_similarity(np.asarray([s for _, s in result.ranked]))
    flags = np.asarray([i in relevant for i in ids])
    return _Asked(query, own, gallery, relevant, distances, flags)


def _ranked(part: list[_Asked]) -> RankedLists:
    return RankedLists.build([a.distances for a in part], [a.flags for a in part])


def _gallery_stat(part: list[_Asked], statistics: dict[int, float]) -> np.ndarray:
    return np.asarray([statistics[a.gallery.pk] for a in part])


def _platform(
    ctx: Context, part: list[_Asked], mode: str, static: float, weight: float
) -> MacroPRF:
    returned = []
    with override_settings(CBIR_THRESHOLD_STATIC_IMAGE=static, CBIR_THRESHOLD_WEIGHT=weight):
        for asked in ctx.bar(part, f"thresholds: {mode}"):
            result = search_images(
                user=ctx.loaded.user,
                load_hits=False,  # scored by `ranked` alone: no image rows
                request=SearchRequest(
                    gallery_slugs=[asked.gallery.slug],
                    k=ctx.k,
                    mode=Mode(mode),
                    image_ids=[asked.own],
                ),
            )
            returned.append([i for i, _ in result.ranked])
    return macro_prf(returned, [a.relevant for a in part])


def _pr_plot(test: RankedLists, points: list[Series]) -> Plot:
    grid = np.linspace(0.0, 2.0, 201)
    precision, recall, _f1 = test.scores_at(np.repeat(grid[:, None], len(test), axis=1))
    sweep = Series(
        "static cutoff sweep (test)", recall.mean(axis=1).tolist(), precision.mean(axis=1).tolist()
    )
    return Plot(
        filename="thresholds-pr.png",
        title="Threshold retrieval: macro precision vs recall (test split)",
        xlabel="macro recall",
        ylabel="macro precision",
        series=[sweep, *points],
    )
