"""Cutoffs per query kind and mode, over all of the dataset's galleries at once (issue 13).

Every query searches every dataset gallery, as a user's unfiltered search does
(galleries of mixed tightness when the dataset has several). Per query kind:

- fixed top-k (k = 1, 5, 10, 20, 50) as the baseline;
- static: T_static grid-fitted for macro F1 on the fit split (offline, on the
  ranked lists), then measured through the platform (mode static);
- dynamic and query-time: the platform with the deployment's parameters
  (mode dynamic / query; text queries use the image statistic there only when
  text_cutoff=dynamic, as before this issue);
- text and composed queries: the calibrated cutoffs of auto mode (text_cutoff
  qbnorm at the shipped z and at a z fitted on the fit split, autocut, mixture,
  expected_f1 at the shipped centre and at a centre fitted on the fit split);
- the default after judgements: the first J results of every fit-split text
  query marked relevant or not from the ground truth, as a user would, and the
  model's text calibration fitted on those marks by the product's own code
  (search/cutoff_fit.text_calibration_fit, what the judgement-log task runs);
  then the test split searched in auto mode. J = JUDGED_DEPTHS.

Searches use strict=True: the cutoff's own result, without the closest results
a product search shows when nothing passes. Scored on the test split: macro
P/R/F1, P@10 (relevant among the first 10 returned, over 10), and how many
queries returned nothing while a relevant image was in their top 10.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from django.test.utils import override_settings

from evaluation.datasets import IMAGE, Query
from evaluation.experiments.common import Context
from evaluation.experiments.thresholds import _statistics
from evaluation.metrics import macro_prf
from evaluation.report import Section, Table
from indexing.models import Embedding
from indexing.querybank_store import query_bank
from indexing.runtime import encode_query_texts, get_encoder
from search.config import search_config
from search.cutoff_fit import Marks, TextMarks, image_calibration_fit, text_calibration_fit
from search.cutoff_models import CutoffCalibration, CutoffSource, ModelScoreStatistics
from search.cutoffs import cutoff_parameters
from search.request import Mode, SearchRequest
from search.score_statistics import ScoreStatistics, score_statistics_refresh
from search.services import search_images
from search.text_cut_methods import expected_f1_cut, z_scores
from search.thresholds import distance_from_similarity

TOP_KS = (1, 5, 10, 20, 50)
SIMILARITY_GRID = np.linspace(-0.5, 1.0, 301)
Z_GRID = np.linspace(-2.0, 8.0, 201)
CENTRE_GRID = np.linspace(0.0, 8.0, 33)
PER_QUERY_ROWS = 60
JUDGED_DEPTHS = (20, 50)  # results marked per fit-split query for the judgement fit


@dataclass
class _Ranked:
    query: Query
    relevant: set[int]
    ids: list[int]
    scores: np.ndarray

    def flags(self) -> np.ndarray:
        return np.asarray([i in self.relevant for i in self.ids])


def run(ctx: Context) -> Section:
    section = Section(name="cutoffs", title="Cutoffs per query kind and mode (all galleries)")
    _statistics(ctx)  # m_g and M of the dataset's galleries (dynamic mode)
    if len(ctx.loaded.galleries) == 1:
        section.notes.append(
            "One gallery: M = m_g, so the dynamic cutoff equals the static one by construction "
            "(T_g = T_static + w (m_g - M)); a gallery-adaptive cutoff needs several galleries."
        )
    stats = _bank(ctx)
    data = {}
    # The evaluation database outlives a run: a judgement fit left by an earlier run (of
    # another dataset, under the same model) would pass for the shipped defaults here,
    # and the model's score statistics would cover the other datasets' images too.
    _forget_judgement_fits(ctx.model_name)
    own = score_statistics_refresh(
        model_name=ctx.model_name, gallery_ids=[g.pk for g in ctx.loaded.galleries.values()]
    )
    for kind in ctx.kinds():
        ranked = [_rank(ctx, q) for q in ctx.bar(ctx.queries(kind), f"cutoffs: rank {kind}")]
        ranked = [r for r in ranked if r.relevant]
        fit, test = _split(ranked)
        if not fit or not test:
            continue
        rows, figures = _rows(ctx, kind, fit, test, stats, own)
        section.tables.append(_table(kind, rows, len(fit), len(test)))
        section.tables.append(_per_query(kind, test))
        data[kind] = figures
    _forget_judgement_fits(ctx.model_name)
    ModelScoreStatistics.objects.filter(model_name=ctx.model_name).delete()
    section.data = data
    return section


def _split(ranked: list[_Ranked]) -> tuple[list[_Ranked], list[_Ranked]]:
    """The dataset's fit/test labels, else alternate queries (e.g. COCO's split names)."""
    fit = [r for r in ranked if r.query.split == "fit"]
    test = [r for r in ranked if r.query.split == "test"]
    if fit and test:
        return fit, test
    return ranked[0::2], ranked[1::2]


def _bank(ctx: Context) -> dict[int, tuple[float, float]]:
    bank = query_bank(get_encoder())
    rows = Embedding.objects.filter(model_name=ctx.model_name, bank_key=bank.key)
    return {i: (m, s) for i, m, s in rows.values_list("image_id", "bank_mean", "bank_spread")}


def _rank(ctx: Context, query: Query) -> _Ranked:
    result = search_images(
        user=ctx.loaded.user,
        load_hits=False,  # scored by `ranked` alone: no image rows
        request=SearchRequest(
            gallery_slugs=ctx.loaded.slugs, k=ctx.k, mode=Mode.TOPK, **ctx.request(query)
        ),
    )
    ids = [i for i, _ in result.ranked]
    scores = np.asarray([s for _, s in result.ranked])
    return _Ranked(query, ctx.relevant(query) - ctx.junk(query), ids, scores)


def _rows(
    ctx: Context,
    kind: str,
    fit: list[_Ranked],
    test: list[_Ranked],
    stats: dict,
    own: ScoreStatistics | None,
) -> tuple[list[list[Any]], dict[str, Any]]:
    rows, figures = [], {}

    def add(label: str, returned: list[list[int]], parameter: str = "") -> None:
        row = _measure(returned, test)
        rows.append([label, parameter, *row.values()])
        figures[label] = {"parameter": parameter, **row}

    for k in TOP_KS:
        add(f"top-{k}", [r.ids[:k] for r in test])
    best = _fit_similarity(fit)
    static_setting = (
        "CBIR_THRESHOLD_STATIC_TEXT" if kind != IMAGE else "CBIR_THRESHOLD_STATIC_IMAGE"
    )
    distance = float(distance_from_similarity(best))
    with override_settings(**{static_setting: distance}):
        add("static (fitted)", _platform(ctx, test, "static"), f"s > {best:.3f}")
    add("dynamic", _platform(ctx, test, "dynamic", text_cutoff="dynamic"), "deployment w, n")
    add("query-time", _platform(ctx, test, "query"), "deployment w, n")
    if kind == IMAGE:
        for depth in JUDGED_DEPTHS:
            fitted = _image_judgement_fit(ctx, fit, depth)
            if fitted:
                add(
                    f"dynamic after judgements (top {depth})",
                    _platform(ctx, test, "dynamic"),
                    fitted,
                )
        _forget_judgement_fits(ctx.model_name)
        return rows, figures
    z_default = search_config().qbnorm_z
    z_fit = _fit_z(fit, stats)
    add(
        "qbnorm (shipped z)", _platform(ctx, test, "auto", text_cutoff="qbnorm"), f"z > {z_default}"
    )
    with override_settings(CBIR_QBNORM_Z=z_fit):
        add(
            "qbnorm (fitted z)",
            _platform(ctx, test, "auto", text_cutoff="qbnorm"),
            f"z > {z_fit:.2f}",
        )
    n = search_config().text_cutoff_top_n
    for method in ("autocut", "mixture"):
        add(method, _platform(ctx, test, "auto", text_cutoff=method), f"top {n}")
    centre, f1_top = search_config().text_f1_centre, search_config().text_f1_top_n
    add(
        "expected_f1 (shipped centre)",
        _platform(ctx, test, "auto", text_cutoff="expected_f1"),
        f"c = {centre}, top {f1_top}",
    )
    centre_fit = _fit_centre(fit, stats, f1_top)
    with override_settings(CBIR_TEXT_F1_CENTRE=centre_fit):
        add(
            "expected_f1 (fitted centre)",
            _platform(ctx, test, "auto", text_cutoff="expected_f1"),
            f"c = {centre_fit:.2f}",
        )
    add(
        f"auto (default: {search_config().text_cutoff})",
        _platform(ctx, test, "auto"),
        "as shipped",
    )
    if kind == "text":
        for depth in JUDGED_DEPTHS:
            fitted = _judgement_fit(ctx, fit, depth, own)
            if fitted:
                add(f"auto after judgements (top {depth})", _platform(ctx, test, "auto"), fitted)
    return rows, figures


def _judgement_fit(
    ctx: Context, fit: list[_Ranked], depth: int, own: ScoreStatistics | None
) -> str:
    """Mark the first `depth` results of each fit query, fit the text calibration on them
    with the product's code; the parameter text of the row ("" when nothing was fitted).
    The fitted rows stay until the next call replaces them or the experiment ends."""
    _forget_judgement_fits(ctx.model_name)
    vectors = encode_query_texts(get_encoder(), [str(r.query.text) for r in fit])
    marks = TextMarks(
        scores=np.concatenate([r.scores[:depth] for r in fit]),
        relevant=np.concatenate([r.flags()[:depth] for r in fit]),
        image_ids=np.concatenate([np.asarray(r.ids[:depth], dtype=np.int64) for r in fit]),
        vectors=np.concatenate(
            [
                np.repeat(v[None, :], len(r.ids[:depth]), axis=0)
                for v, r in zip(vectors, fit, strict=True)
            ]
        ),
    )
    fitted = text_calibration_fit(model_name=ctx.model_name, marks=marks, statistics=own)
    if "text_f1_centre" not in fitted:
        return ""  # too few marks, or too few images for the model's score statistics
    values = {
        row.parameter: row.value
        for row in CutoffCalibration.objects.filter(
            model_name=ctx.model_name, source=CutoffSource.FITTED_JUDGEMENTS
        )
    }
    return (
        f"{len(marks)} marks: c = {values.get('text_f1_centre', float('nan')):.2f}, "
        f"a = {values.get('text_f1_own_weight', float('nan')):.2f}"
    )


def _image_judgement_fit(ctx: Context, fit: list[_Ranked], depth: int) -> str:
    """The image side of _judgement_fit: T_static and w fitted on the first `depth` results
    of each fit query, marked from the ground truth (search/cutoff_fit.image_calibration_fit)."""
    _forget_judgement_fits(ctx.model_name)
    ids = np.concatenate([np.asarray(r.ids[:depth], dtype=np.int64) for r in fit])
    gallery_of = dict(
        Embedding.objects.filter(
            model_name=ctx.model_name, image_id__in=set(ids.tolist())
        ).values_list("image_id", "gallery_id")
    )
    marks = Marks(
        distances=distance_from_similarity(np.concatenate([r.scores[:depth] for r in fit])),
        relevant=np.concatenate([r.flags()[:depth] for r in fit]),
        galleries=np.asarray([gallery_of.get(i, 0) for i in ids.tolist()], dtype=np.int64),
        last_id=0,
    )
    if not image_calibration_fit(model_name=ctx.model_name, marks=marks):
        return ""
    values = cutoff_parameters(model_name=ctx.model_name)
    return (
        f"{len(marks)} marks: T = {float(values['static_image'].value):.3f}, "
        f"w = {float(values['weight'].value):.2f}"
    )


def _forget_judgement_fits(model_name: str) -> None:
    CutoffCalibration.objects.filter(
        model_name=model_name, source=CutoffSource.FITTED_JUDGEMENTS
    ).delete()


def _platform(ctx: Context, part: list[_Ranked], mode: str, **extra: Any) -> list[list[int]]:
    out = []
    for r in ctx.bar(part, f"cutoffs: {mode} {extra.get('text_cutoff', '')}".strip()):
        result = search_images(
            user=ctx.loaded.user,
            load_hits=False,  # scored by `ranked` alone: no image rows
            request=SearchRequest(
                gallery_slugs=ctx.loaded.slugs,
                k=ctx.k,
                mode=Mode(mode),
                strict=True,
                **ctx.request(r.query),
                **extra,
            ),
        )
        out.append([i for i, _ in result.ranked])
    return out


def _measure(returned: list[list[int]], part: list[_Ranked]) -> dict[str, float]:
    prf = macro_prf(returned, [r.relevant for r in part])
    p10 = np.mean(
        [len(set(got[:10]) & r.relevant) / 10 for got, r in zip(returned, part, strict=True)]
    )
    silent = sum(
        1 for got, r in zip(returned, part, strict=True) if not got and r.flags()[:10].any()
    )
    return {
        "P": prf.precision,
        "R (set recall)": prf.recall,
        "F1": prf.f1,
        "P@10": float(p10),
        "empty": prf.empty,
        "empty, relevant in top 10": silent,
        "returned": prf.mean_returned,
    }


def _fit_similarity(fit: list[_Ranked]) -> float:
    """The similarity cutoff with the best macro F1 on the fit split."""
    f1 = np.zeros(len(SIMILARITY_GRID))
    for r in fit:
        f1 += _f1_at(r.scores[None, :] > SIMILARITY_GRID[:, None], r.flags())
    return float(SIMILARITY_GRID[int(np.argmax(f1))])


def _fit_z(fit: list[_Ranked], stats: dict) -> float:
    f1 = np.zeros(len(Z_GRID))
    for r in fit:
        known = [n for n, i in enumerate(r.ids) if i in stats]
        means = np.asarray([stats[r.ids[n]][0] for n in known])
        spreads = np.asarray([stats[r.ids[n]][1] for n in known])
        z = z_scores(r.scores[known], means, spreads)
        f1 += _f1_at(z[None, :] > Z_GRID[:, None], r.flags()[known])
    return float(Z_GRID[int(np.argmax(f1))])


def _fit_centre(fit: list[_Ranked], stats: dict, top: int) -> float:
    """The expected_f1 centre with the best macro F1 on the fit split (as a judgement fit would)."""
    f1 = np.zeros(len(CENTRE_GRID))
    for r in fit:
        scores, flags = r.scores[:top], r.flags()[:top]
        means, spreads = np.asarray([stats.get(i, (np.nan, 1.0)) for i in r.ids[:top]]).T
        z = z_scores(scores, means, spreads)
        counts = np.asarray([expected_f1_cut(scores, z - float(c)) for c in CENTRE_GRID])
        hits = np.asarray([flags[:count].sum() for count in counts])
        f1 += 2 * hits / (counts + len(r.relevant))  # F1 = 2 hits / (returned + relevant)
    return float(CENTRE_GRID[int(np.argmax(f1))])


def _f1_at(kept: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """Per grid row: F1 of the kept set (rows of booleans) against the relevant flags."""
    hits = (kept & flags[None, :]).sum(axis=1)
    returned = kept.sum(axis=1)
    relevant = max(int(flags.sum()), 1)
    precision = np.where(returned > 0, hits / np.maximum(returned, 1), 0.0)
    recall = hits / relevant
    total = precision + recall
    return np.where(total > 0, 2 * precision * recall / np.maximum(total, 1e-12), 0.0)


def _table(kind: str, rows: list[list[Any]], fitted: int, tested: int) -> Table:
    return Table(
        title=f"{kind} queries: macro P/R/F1 on the test split ({tested} queries; "
        f"fitted on {fitted})",
        columns=[
            "Cutoff",
            "Parameter",
            "P",
            "R (set)",
            "F1",
            "P@10",
            "Empty",
            "Empty, relevant in top 10",
            "Returned",
        ],
        rows=rows,
        notes=[
            "R (set) is set recall: relevant returned / all relevant (not the caption "
            "'relevant within the top K' of the retrieval tables). P@10: relevant among the "
            "first 10 returned, over 10. Empty: queries returning nothing (strict, so the "
            "closest results a product page shows below the divider are not counted)."
        ],
    )


def _per_query(kind: str, part: list[_Ranked]) -> Table:
    aps = [(_ap(r.flags()), r) for r in part]
    aps.sort(key=lambda pair: pair[0])
    shown = aps[:PER_QUERY_ROWS]
    label = "query" if kind != IMAGE else "query image"
    return Table(
        title=f"{kind} queries: average precision per query (test split, worst first"
        + (f", {PER_QUERY_ROWS} of {len(aps)})" if len(aps) > PER_QUERY_ROWS else ")"),
        columns=[label, "relevant", "AP", "first relevant rank"],
        rows=[
            [r.query.text or r.query.item_key, len(r.relevant), ap, _first(r.flags())]
            for ap, r in shown
        ],
    )


def _ap(flags: np.ndarray) -> float:
    hits = np.flatnonzero(flags)
    if not len(hits):
        return 0.0
    return float(np.mean(np.arange(1, len(hits) + 1) / (hits + 1)))


def _first(flags: np.ndarray) -> int | None:
    hits = np.flatnonzero(flags)
    return int(hits[0]) + 1 if len(hits) else None
