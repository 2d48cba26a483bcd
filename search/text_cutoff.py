"""Cutoffs of text and composed queries in auto/dynamic mode (search/text_cut_methods.py).

The image statistic m_g measures distances between images; text-to-image
similarities are on another scale, per model and per query. So a text query's
cutoff comes from one of the calibrated methods of CBIR_TEXT_CUTOFF (or the
request's `text_cutoff`):

- qbnorm: each image's score as a z-score against its similarity to the query
  bank; a hit needs z > the model's qbnorm_z (CBIR_QBNORM_Z by default). The
  search asks the backend for every hit above the loosest raw similarity that
  could pass in each gallery, then keeps those whose own z passes;
- autocut / mixture: one similarity cut, found in the query's top
  CBIR_TEXT_CUTOFF_TOP_N scores over the searched galleries;
- expected_f1 (the default): one similarity cut, the depth of the query's top
  CBIR_TEXT_F1_TOP_N hits with the best expected F1, each hit's probability of
  relevance from its query-bank z and its z against the query's own scores
  over the collection, weighted by the model's text_f1_* parameters (the
  settings, or fitted on the judgement log: search/cutoff_fit.py). Without the
  model's score statistics (search/score_statistics.py) the own-score term
  cannot be read, and the label-free defaults serve;
- querytime / dynamic: the existing cutoff modes (search/services.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from django.db.models import F, Min

from galleries.models import Gallery
from indexing.backend_base import Hit
from indexing.encoders.base import Encoder
from indexing.models import Embedding
from indexing.querybank_store import QueryBank, bank_statistics_for, query_bank, stale_rows
from search.config import search_config
from search.cutoff_models import CutoffSource
from search.cutoffs import (
    PARAMETERS,
    QBNORM_Z,
    TEXT_F1_BANK,
    TEXT_F1_CENTRE,
    TEXT_F1_OWN,
    CutoffValue,
    cutoff_parameters,
)
from search.score_statistics import ScoreStatistics, score_statistics
from search.statistics import TEXT, GalleryThreshold, thresholds_for
from search.text_cut_methods import (
    AUTOCUT,
    EXPECTED_F1,
    MIXTURE,
    QBNORM,
    TEXT_CUTOFF_METHODS,
    autocut,
    cut_score,
    expected_f1_cut,
    mixture_cut,
    relevance_logits,
    z_scores,
)
from search.thresholds import distance_from_similarity

CALIBRATED = (EXPECTED_F1, QBNORM, AUTOCUT, MIXTURE)
TopK = Callable[[int], list[Hit]]  # the query's best n hits over the searched galleries


@dataclass(frozen=True)
class TextCut:
    thresholds: dict[int, GalleryThreshold]  # per gallery: the raw similarity a hit needs
    keep: Callable[[list[Hit]], list[Hit]] | None = None  # a further per-image test (qbnorm)


def text_cutoff_method(requested: str | None) -> str:
    return requested or search_config().text_cutoff


def valid_methods() -> tuple[str, ...]:
    return TEXT_CUTOFF_METHODS


def text_cut(
    *, method: str, encoder: Encoder, galleries: list[Gallery], top_k: TopK, vector: np.ndarray
) -> TextCut | None:
    """The cutoff of a calibrated method; None for the others (dynamic, querytime).

    `vector` is the query's (expected_f1 reads its distribution over the collection).
    """
    if method == QBNORM:
        return _qbnorm(encoder, galleries)
    if method == EXPECTED_F1:
        return _expected_f1(encoder, galleries, top_k(search_config().text_f1_top_n), vector)
    if method in (AUTOCUT, MIXTURE):
        top = top_k(search_config().text_cutoff_top_n)
        if not top:
            return None
        scores = np.asarray([h.score for h in top])
        count = autocut(scores) if method == AUTOCUT else mixture_cut(scores)
        cut = dict.fromkeys(ids(galleries), cut_score(scores, count))
        return TextCut(_thresholds(encoder.name, galleries, cut, method, {}))
    return None


def ids(galleries: list[Gallery]) -> list[int]:
    return [g.pk for g in galleries]


def _thresholds(
    model_name: str,
    galleries: list[Gallery],
    similarity: dict[int, float],
    source: str,
    parameters: dict[str, CutoffValue],
) -> dict[int, GalleryThreshold]:
    """GalleryThresholds at these similarities, naming the parameters that decided them
    (and where each came from); autocut and mixture have none."""
    static = thresholds_for(galleries, model_name=model_name, kind=TEXT, dynamic=False)
    out = {}
    for gallery_id, base in static.items():
        s = min(max(similarity.get(gallery_id, -1.0), -1.0), 1.0)
        distance = float(distance_from_similarity(s))
        out[gallery_id] = replace(
            base, distance=distance, source=source, statistic=None, parameters=dict(parameters)
        )
    return out


def _qbnorm(encoder: Encoder, galleries: list[Gallery]) -> TextCut:
    bank = query_bank(encoder)
    used = cutoff_parameters(model_name=encoder.name)[QBNORM_Z]
    z = float(used.value)
    floors = _raw_floors(encoder.name, bank, galleries, z)
    thresholds = _thresholds(encoder.name, galleries, floors, QBNORM, {QBNORM_Z: used})

    def keep(hits: list[Hit]) -> list[Hit]:
        stats = bank_statistics_for(
            model_name=encoder.name, bank=bank, image_ids=[h.image_id for h in hits]
        )
        known = [h for h in hits if h.image_id in stats]
        if not known:
            return []
        means = np.asarray([stats[h.image_id][0] for h in known])
        spreads = np.asarray([stats[h.image_id][1] for h in known])
        passed = z_scores(np.asarray([h.score for h in known]), means, spreads) > z
        return [h for h, ok in zip(known, passed, strict=True) if ok]

    return TextCut(thresholds, keep)


def _expected_f1(
    encoder: Encoder, galleries: list[Gallery], top: list[Hit], vector: np.ndarray
) -> TextCut | None:
    """One similarity cut over the galleries: the depth of `top` with the best expected F1."""
    if not top:
        return None
    stats = bank_statistics_for(
        model_name=encoder.name, bank=query_bank(encoder), image_ids=[h.image_id for h in top]
    )
    scores = np.asarray([h.score for h in top])
    unknown = (np.nan, 1.0)  # no statistics yet: probability 0 (search/text_cut_methods.py)
    means, spreads = np.asarray([stats.get(h.image_id, unknown) for h in top]).T
    used, statistics = relevance_model(encoder.name)
    logits = relevance_logits_for(
        used, statistics, scores, z_scores(scores, means, spreads), vector
    )
    count = expected_f1_cut(scores, logits)
    cut = dict.fromkeys(ids(galleries), cut_score(scores, count))
    return TextCut(_thresholds(encoder.name, galleries, cut, EXPECTED_F1, used))


def relevance_model(model_name: str) -> tuple[dict[str, CutoffValue], ScoreStatistics | None]:
    """The model's relevance parameters (c, b, a with their sources) and score statistics.

    With an own-score weight but no score statistics yet, the label-free
    defaults serve (the settings' values, own weight 0), not a model missing a term.
    """
    values = cutoff_parameters(model_name=model_name)
    used = {name: values[name] for name in (TEXT_F1_CENTRE, TEXT_F1_BANK, TEXT_F1_OWN)}
    if not used[TEXT_F1_OWN].value:
        return used, None
    statistics = score_statistics(model_name=model_name)
    if statistics is not None:
        return used, statistics
    default = CutoffSource.DEFAULT.value
    return {
        TEXT_F1_CENTRE: CutoffValue(PARAMETERS[TEXT_F1_CENTRE].default(), default),
        TEXT_F1_BANK: CutoffValue(PARAMETERS[TEXT_F1_BANK].default(), default),
        TEXT_F1_OWN: CutoffValue(0.0, default),
    }, None


def relevance_logits_for(
    used: dict[str, CutoffValue],
    statistics: ScoreStatistics | None,
    scores: np.ndarray,
    z_bank: np.ndarray,
    vector: np.ndarray,
) -> np.ndarray:
    """The relevance log-odds of these scores of one query under relevance_model's answer."""
    own_weight = float(used[TEXT_F1_OWN].value) if statistics is not None else 0.0
    return relevance_logits(
        z_bank,
        statistics.own_z(scores, vector) if statistics is not None and own_weight else None,
        centre=float(used[TEXT_F1_CENTRE].value),
        bank_weight=float(used[TEXT_F1_BANK].value),
        own_weight=own_weight,
    )


def _raw_floors(
    model_name: str, bank: QueryBank, galleries: list[Gallery], z: float
) -> dict[int, float]:
    """Per gallery, the lowest raw similarity with which any of its images can pass.

    A gallery with rows not yet filled (before the backfill) gets no floor: the
    backend returns all of it and each image's statistics are computed then.
    """
    wanted = ids(galleries)
    unfilled = set(
        Embedding.objects.filter(stale_rows(model_name, bank.key), gallery_id__in=wanted)
        .values_list("gallery_id", flat=True)
        .distinct()
    )
    rows = (
        Embedding.objects.filter(model_name=model_name, bank_key=bank.key, gallery_id__in=wanted)
        .exclude(gallery_id__in=unfilled)
        .values("gallery_id")
        .annotate(floor=Min(F("bank_mean") + z * F("bank_spread")))
    )
    # A hair below: the backend keeps scores strictly above a cutoff.
    return {r["gallery_id"]: float(r["floor"]) - 1e-6 for r in rows if r["floor"] is not None}
