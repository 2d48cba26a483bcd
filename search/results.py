"""What a search returns: its hits, the cutoffs it used and how it got there."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from galleries.models import Gallery, Image
from search.request import Composition, Mode, QueryKind

METRIC = "cosine_similarity"


@dataclass(frozen=True)
class SearchHit:
    rank: int
    image: Image
    score: float  # cosine similarity
    distance: float  # Euclidean distance between unit vectors
    below_cutoff: bool = False  # a closest result: shown because nothing passed the cutoff


@dataclass(frozen=True)
class ThresholdUsed:
    gallery: Gallery
    distance: float | None  # hits have a Euclidean distance below this
    similarity: float | None  # ... that is, a cosine similarity above this
    source: str  # dynamic, static, query, or topk (auto mode: no statistic, its best k)
    # static, weight, neighbours: each value and where it came from (search/cutoffs.py).
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchResult:
    hits: list[SearchHit]  # this page
    model_name: str
    k: int
    galleries: list[Gallery]
    query_kinds: list[QueryKind]
    encode_ms: float
    search_ms: float
    mode: str = Mode.TOPK
    total: int = 0  # every hit of the search (threshold modes: above the cutoff)
    page: int = 1
    page_size: int = 0
    truncated: bool = False  # threshold modes: stopped at CBIR_THRESHOLD_MAX_RESULTS
    thresholds: list[ThresholdUsed] = field(default_factory=list)
    # Every hit of the search as (image id, score), best first: all pages of a thresholded search.
    ranked: list[tuple[int, float]] = field(default_factory=list)
    metric: str = METRIC  # what `score` is: cosine_similarity, or fusion:<method> for two_phase
    vector: np.ndarray | None = None  # the query vector used (sessions store it)
    composition: str = Composition.SUM
    # Cutoff modes, when no image passed: the best of the same ranking without the cutoff.
    closest: list[SearchHit] = field(default_factory=list)
    notice: str | None = None
