"""Fitting a model's cutoff parameters: from its own collection, and from the judgement log.

Collection (label-free). Without labels there is no F1 to maximise, so only a
scale can be learnt: the model's M (mean distance of images to their n nearest
neighbours, over its galleries). The default T_static for image queries was
fitted for the bundled encoder on clip art, where M was REFERENCE_GLOBAL_MEAN
(n = REFERENCE_NEIGHBOURS). The dynamic threshold's own rule moves a gallery's
cutoff by w (m_g - M) when its images lie further apart; the collection fit
applies the same rule to the whole model:

    T_static_image = T_default + w_default (M_model - REFERENCE_GLOBAL_MEAN)

w is a ratio of distances and n a count, so a collection says nothing new about
them; text similarities live on another scale than image neighbours, so the
text T_static is not derived from M either (the text calibration measures its
own scale, search/text_cut_methods.py).

Judgements (labelled). Each current relevant / not-relevant mark of a search
under the model, with the score it was shown with, is a labelled distance. The
static threshold (per query kind) is the one with the best F1 over the marks,
pooled (every mark counts once), by search/threshold_fit.py; w too, from the
image marks, when they come from at least two galleries with a statistic. A
mark in gallery g is kept when d < T + w (m_g - M), that is when
d - w (m_g - M) < T: for each w on the grid, T is a one-dimensional fit.

Text marks also fit the text calibration (search/text_cut_methods.py):

- expected_f1's relevance model p = 1 / (1 + exp(-(b z_bank + a z_own - c))).
  The marks are the top of rankings (what people look at and judge): they
  tell the rate of relevant images among well-scored ones, the intercept c,
  well, and the slopes poorly (a full logistic fit on the top 20 of each
  search learns a steep slope and cuts class-name queries after a few hits;
  docs/evaluation/README.md). So the fit takes the judged shape
  (JUDGED_OWN_WEIGHT, JUDGED_BANK_WEIGHT) and fits c by maximum likelihood:
  a collection whose text queries name whole classes gets a low c (deep
  cuts), one searched with precise captions a high one;
- qbnorm's z: the z_bank cut with the best pooled F1 over the marks.

Each needs the mark's query vector (kept with the search iteration), the
image's query-bank statistics and the model's score statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from indexing.models import Embedding
from search import mark_sources
from search.config import search_config
from search.cutoff_models import CutoffCalibration, CutoffSource
from search.cutoffs import (
    IMAGE,
    PARAMETERS,
    QBNORM_Z,
    STATIC_IMAGE,
    STATIC_TEXT,
    TEXT,
    TEXT_F1_BANK,
    TEXT_F1_CENTRE,
    TEXT_F1_OWN,
    WEIGHT,
    cutoff_parameters,
)
from search.models import GalleryStatistics
from search.score_statistics import (
    ScoreStatistics,
    score_statistics,
    score_statistics_due,
    score_statistics_refresh,
)
from search.statistics import thresholds_refresh
from search.text_cut_methods import best_f1_cut, fit_relevance_centre, own_z_rows, z_scores
from search.threshold_fit import RankedLists, ThresholdFit, fit_thresholds
from search.thresholds import distance_from_similarity

# The bundled encoder on the clip-art benchmark (benchmarks/README.md): M = 0.467 with n = 5.
REFERENCE_GLOBAL_MEAN = 0.467
REFERENCE_NEIGHBOURS = 5
COLLECTION_MIN_IMAGES = 100  # below this M is too noisy to move the default by
COLLECTION_REFIT_CHANGE = 0.25  # refit when the images covered changed by a quarter
MIN_MARKS_PER_LABEL = 5  # with CBIR_CUTOFF_FIT_MIN_MARKS marks in all, per query kind
MAX_MARKS = 20_000  # the most recent; keeps an hourly refit cheap
STATIC_GRID = np.round(np.arange(0.0, 2.0 + 1e-9, 0.0025), 6)
# The relevance model's shape under a judgement fit, chosen on COCO-MINI captions and
# openclipart class names (docs/evaluation/README.md): the score against the query's own
# distribution carries the fitted rate; the query-bank z adds nothing once c is fitted.
JUDGED_OWN_WEIGHT, JUDGED_BANK_WEIGHT = 0.75, 0.0
WEIGHT_GRID = [round(0.05 * i, 2) for i in range(61)]  # 0 to 3


# ---------------------------------------------------------------- the collection


def collection_fit_due(*, model_name: str) -> bool:
    """No collection fit yet, or the images it covered changed by COLLECTION_REFIT_CHANGE."""
    images = _reference_rows_images(model_name)
    if images < COLLECTION_MIN_IMAGES:
        return False
    row = CutoffCalibration.objects.filter(
        model_name=model_name, parameter=STATIC_IMAGE, source=CutoffSource.FITTED_COLLECTION
    ).first()
    return row is None or abs(images - row.sample_size) > COLLECTION_REFIT_CHANGE * row.sample_size


def cutoffs_fit_from_collection(*, model_name: str) -> list[str]:
    """Set the model's collection-fitted T_static for image queries; returns what was set."""
    rows = list(
        GalleryStatistics.objects.filter(
            model_name=model_name, neighbours=REFERENCE_NEIGHBOURS
        ).values_list("mean_distance", "image_count")
    )
    images = sum(count for _, count in rows)
    if images < COLLECTION_MIN_IMAGES:
        return []
    _score_statistics_current(model_name)  # the text relevance model's own-score statistic
    overall = float(np.mean([m for m, _ in rows]))  # M over galleries of the reference n
    parameter = PARAMETERS[STATIC_IMAGE]
    default, weight = parameter.default(), PARAMETERS[WEIGHT].default()
    value = float(np.clip(default + weight * (overall - REFERENCE_GLOBAL_MEAN), 0.0, 2.0))
    _store(
        model_name,
        STATIC_IMAGE,
        CutoffSource.FITTED_COLLECTION,
        value,
        sample_size=images,
        detail={
            "rule": "T_default + w_default (M - M_reference)",
            "global_mean": round(overall, 6),
            "reference_mean": REFERENCE_GLOBAL_MEAN,
            "neighbours": REFERENCE_NEIGHBOURS,
            "galleries": len(rows),
        },
    )
    thresholds_refresh(model_name=model_name)
    return [STATIC_IMAGE]


def _reference_rows_images(model_name: str) -> int:
    counts = GalleryStatistics.objects.filter(
        model_name=model_name, neighbours=REFERENCE_NEIGHBOURS
    ).values_list("image_count", flat=True)
    return sum(counts)


def calibrated_models() -> list[str]:
    """Models with gallery statistics: those a collection fit may concern."""
    return sorted(set(GalleryStatistics.objects.values_list("model_name", flat=True).distinct()))


# ---------------------------------------------------------------- the judgement log


def _seen_key(model_name: str) -> str:
    return f"cbir:cutoff-judgements-seen:{model_name}"


def judgement_fits_due() -> list[str]:
    """Models whose judgement log grew since the last look (one grouped query; the newest
    judgement id seen is remembered in the cache, so an unchanged log costs no fit)."""
    due = []
    latest = mark_sources.latest_per_model()
    for model_name, last in latest:
        if last > (cache.get(_seen_key(model_name)) or 0):
            cache.set(_seen_key(model_name), last, timeout=None)
            due.append(model_name)
    return sorted(due)


@dataclass(frozen=True)
class Marks:
    distances: np.ndarray  # Euclidean distance of each marked image to the query
    relevant: np.ndarray  # bool
    galleries: np.ndarray  # gallery id of each marked image
    last_id: int  # the newest judgement read

    def __len__(self) -> int:
        return len(self.distances)

    def enough(self) -> bool:
        return enough_marks(self.relevant)


@dataclass(frozen=True)
class TextMarks:
    """Text marks with what the relevance model reads: the query vector and the image."""

    scores: np.ndarray  # the similarity each marked image was shown with
    relevant: np.ndarray  # bool
    image_ids: np.ndarray
    vectors: np.ndarray  # (n, d) the query of each mark

    def __len__(self) -> int:
        return len(self.scores)

    def enough(self) -> bool:
        return enough_marks(self.relevant)


def enough_marks(relevant: np.ndarray) -> bool:
    """CBIR_CUTOFF_FIT_MIN_MARKS marks in all, at least MIN_MARKS_PER_LABEL of each label."""
    positives = int(np.sum(relevant))
    return (
        len(relevant) >= search_config().cutoff_fit_min_marks
        and positives >= MIN_MARKS_PER_LABEL
        and len(relevant) - positives >= MIN_MARKS_PER_LABEL
    )


def _current_marks(model_name: str) -> tuple[list[mark_sources.Mark], int]:
    """The model's current marks (the latest per session and image; withdrawn ones dropped;
    fused scores of two_phase skipped: not similarities), and the newest id read."""
    seen: set[tuple[object, int]] = set()
    out = []
    last_id = 0
    for mark in mark_sources.newest_marks(model_name, MAX_MARKS):
        last_id = max(last_id, mark.id)
        if (mark.session, mark.image) in seen:
            continue  # an older row of a mark changed since
        seen.add((mark.session, mark.image))
        if mark.relevant is not None:  # None: withdrawn
            out.append(mark)
    return out, last_id


def judgement_marks(
    *, model_name: str, current: tuple[list[mark_sources.Mark], int] | None = None
) -> dict[str, Marks]:
    """Each query kind's current marks on searches under the model (`current`: as read)."""
    marks, last_id = current or _current_marks(model_name)
    found: dict[str, list[tuple[float, bool, int]]] = {TEXT: [], IMAGE: []}
    for mark in marks:
        found[TEXT if mark.text_query else IMAGE].append(
            (mark.score, bool(mark.relevant), mark.gallery)
        )
    return {kind: _marks(values, last_id) for kind, values in found.items()}


def text_marks(
    *, model_name: str, current: tuple[list[mark_sources.Mark], int] | None = None
) -> TextMarks:
    """The current text marks whose query vector is known (`current`: as read)."""
    marks = [
        m
        for m in (current or _current_marks(model_name))[0]
        if m.text_query and m.query_vector is not None
    ]
    return TextMarks(
        scores=np.asarray([m.score for m in marks], dtype=np.float64),
        relevant=np.asarray([bool(m.relevant) for m in marks], dtype=bool),
        image_ids=np.asarray([m.image for m in marks], dtype=np.int64),
        vectors=np.asarray([m.query_vector for m in marks], dtype=np.float64),
    )


def _marks(values: list[tuple[float, bool, int]], last_id: int) -> Marks:
    scores = np.asarray([v[0] for v in values], dtype=np.float64)
    return Marks(
        distances=distance_from_similarity(scores),
        relevant=np.asarray([v[1] for v in values], dtype=bool),
        galleries=np.asarray([v[2] for v in values], dtype=np.int64),
        last_id=last_id,
    )


def cutoffs_fit_from_judgements(*, model_name: str) -> list[str]:
    """Fit T_static per query kind (and w from image marks) where there are enough marks.

    Returns the parameters set; nothing changes below the minimum.
    """
    current = _current_marks(model_name)  # read once: both kinds and the text calibration
    marks = judgement_marks(model_name=model_name, current=current)
    changed = image_calibration_fit(model_name=model_name, marks=marks[IMAGE], refresh=False)
    text = marks[TEXT]
    if text.enough():
        weight = float(cutoff_parameters(model_name=model_name)[WEIGHT].value)
        fit = _fit(text, _gallery_shifts(model_name), [weight])
        _store_fit(model_name, STATIC_TEXT, fit, text, fit.static)
        changed.append(STATIC_TEXT)
        changed += text_calibration_fit(
            model_name=model_name, marks=text_marks(model_name=model_name, current=current)
        )
    if changed:
        thresholds_refresh(model_name=model_name)
    return changed


def image_calibration_fit(*, model_name: str, marks: Marks, refresh: bool = True) -> list[str]:
    """Fit T_static for image queries, and w when the marks span two galleries with a
    statistic, from image marks; returns the parameters set (none below the minimum)."""
    if not marks.enough():
        return []
    shifts = _gallery_shifts(model_name)
    weight = float(cutoff_parameters(model_name=model_name)[WEIGHT].value)
    several = len({g for g in marks.galleries.tolist() if g in shifts}) >= 2
    fit = _fit(marks, shifts, WEIGHT_GRID if several else [weight])
    _store_fit(model_name, STATIC_IMAGE, fit, marks, fit.static)
    changed = [STATIC_IMAGE]
    if several:
        _store_fit(model_name, WEIGHT, fit, marks, fit.weight)
        changed.append(WEIGHT)
    if refresh:
        thresholds_refresh(model_name=model_name)
    return changed


def _gallery_shifts(model_name: str) -> dict[int, float]:
    """m_g - M for each gallery with a statistic under the model."""
    rows = GalleryStatistics.objects.filter(model_name=model_name, global_mean__isnull=False)
    return {r.gallery_id: r.mean_distance - r.global_mean for r in rows}


def _fit(marks: Marks, shifts: dict[int, float], weights: list[float]) -> ThresholdFit:
    """The (T, w) of the grids with the best pooled F1 (ties: the smaller w, then T)."""
    shift = np.asarray([shifts.get(g, 0.0) for g in marks.galleries.tolist()], dtype=np.float64)
    best: ThresholdFit | None = None
    for weight in sorted(weights):
        ranked = RankedLists.build([marks.distances - weight * shift], [marks.relevant])
        fit = fit_thresholds(ranked, STATIC_GRID)
        if best is None or fit.f1 > best.f1 + 1e-12:
            best = ThresholdFit(fit.static, weight, fit.f1)
    assert best is not None
    return best


def _store_fit(model_name: str, name: str, fit: ThresholdFit, marks: Marks, value: float) -> None:
    _store(
        model_name,
        name,
        CutoffSource.FITTED_JUDGEMENTS,
        value,
        sample_size=len(marks),
        score=fit.f1,
        detail={
            "relevant": int(marks.relevant.sum()),
            "not_relevant": int(len(marks) - marks.relevant.sum()),
            "galleries": len(set(marks.galleries.tolist())),
            "last_judgement_id": marks.last_id,
            "static": fit.static,
            "weight": fit.weight,
        },
    )


def _store(
    model_name: str,
    name: str,
    source: CutoffSource,
    value: float,
    *,
    sample_size: int,
    score: float | None = None,
    detail: dict[str, object],
) -> None:
    bound = PARAMETERS[name].bound  # a fit never stores what a setting could not hold
    value = float(np.clip(value, bound.minimum, bound.maximum))
    with transaction.atomic():
        CutoffCalibration.objects.update_or_create(
            model_name=model_name,
            parameter=name,
            source=source.value,
            defaults={
                "value": value,
                "sample_size": sample_size,
                "score": score,
                "detail": detail,
                "fitted_at": timezone.now(),
            },
        )


# ---------------------------------------------------------------- the text calibration


def text_calibration_fit(
    *, model_name: str, marks: TextMarks, statistics: ScoreStatistics | None = None
) -> list[str]:
    """Fit expected_f1's centre (under the judged shape) and qbnorm's z from text marks.

    Returns the parameters set: none with too few marks of either label, and
    no relevance model without the model's score statistics (`statistics`, or
    the stored ones, computed here when missing or out of date).
    """
    if not marks.enough():
        return []
    if statistics is None:
        statistics = _score_statistics_current(model_name)
    z_bank = _bank_z(model_name, marks)
    changed = [] if statistics is None else _fit_relevance(model_name, marks, z_bank, statistics)
    known = ~np.isnan(z_bank)
    if known.sum() >= search_config().cutoff_fit_min_marks and marks.relevant[known].any():
        cut, f1 = best_f1_cut(z_bank[known], marks.relevant[known])
        _store(
            model_name,
            QBNORM_Z,
            CutoffSource.FITTED_JUDGEMENTS,
            cut,
            sample_size=int(known.sum()),
            score=f1,
            detail={"rule": "the z cut with the best pooled F1 over the text marks"},
        )
        changed.append(QBNORM_Z)
    return changed


def _fit_relevance(
    model_name: str, marks: TextMarks, z_bank: np.ndarray, statistics: ScoreStatistics
) -> list[str]:
    """Store expected_f1's c (maximum likelihood under the judged shape), a and b."""
    z_own = own_z_rows(marks.scores, marks.vectors, statistics.mean, statistics.covariance)
    features = JUDGED_OWN_WEIGHT * z_own
    if JUDGED_BANK_WEIGHT:
        features = features + JUDGED_BANK_WEIGHT * np.nan_to_num(z_bank, nan=-10.0)
    centre = fit_relevance_centre(features, marks.relevant)
    p = 1.0 / (1.0 + np.exp(-(features - centre)))
    positives = int(marks.relevant.sum())
    detail = {
        "rule": "maximum likelihood of c under the judged shape",
        "own_weight": JUDGED_OWN_WEIGHT,
        "bank_weight": JUDGED_BANK_WEIGHT,
        "relevant": positives,
        "not_relevant": len(marks) - positives,
        "mean_log_likelihood": round(
            float(np.mean(np.where(marks.relevant, np.log(p), np.log1p(-p)))), 6
        ),
        "score_statistics_images": statistics.image_count,
    }
    fitted = {
        TEXT_F1_CENTRE: centre,
        TEXT_F1_OWN: JUDGED_OWN_WEIGHT,
        TEXT_F1_BANK: JUDGED_BANK_WEIGHT,
    }
    for name, value in fitted.items():
        _store(
            model_name,
            name,
            CutoffSource.FITTED_JUDGEMENTS,
            value,
            sample_size=len(marks),
            detail=detail,
        )
    return list(fitted)


def _score_statistics_current(model_name: str) -> ScoreStatistics | None:
    images = Embedding.objects.filter(model_name=model_name).count()
    if score_statistics_due(model_name=model_name, image_count=images):
        return score_statistics_refresh(model_name=model_name)
    return score_statistics(model_name=model_name)


def _bank_z(model_name: str, marks: TextMarks) -> np.ndarray:
    """Each mark's query-bank z (NaN where the image has no bank statistics)."""
    rows = Embedding.objects.filter(
        model_name=model_name, image_id__in=set(marks.image_ids.tolist()), bank_mean__isnull=False
    ).values_list("image_id", "bank_mean", "bank_spread")
    stats = {i: (m, s) for i, m, s in rows}
    means, spreads = (
        np.asarray(
            [stats.get(i, (np.nan, 1.0)) for i in marks.image_ids.tolist()], dtype=np.float64
        )
        .reshape(-1, 2)
        .T
    )
    return z_scores(marks.scores, means, spreads)
