"""Reads of search sessions: an iteration's results as the user may see them now."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from feedback.models import SearchIteration, SearchSession
from feedback.services import current_judgements
from galleries import selectors
from galleries.models import Image
from search.result_filters import filters_given, ranking_narrow


@dataclass(frozen=True)
class ShownResult:
    rank: int
    image: Image
    score: float | None  # None for pinned images (shown because the user marked them)
    label: str | None  # the user's current judgement of the image in this session
    below_cutoff: bool = False  # a closest result: nothing passed the cutoff (search/fallback.py)


def sessions_of(user: AbstractBaseUser) -> QuerySet[SearchSession]:
    if not user.is_authenticated:
        return SearchSession.objects.none()
    return SearchSession.objects.filter(user=user)


def iteration_results(
    user: AbstractBaseUser,
    iteration: SearchIteration,
    filters: Mapping[str, Any] | None = None,
) -> list[ShownResult]:
    """The iteration's ranked results, minus any image the user may no longer see.

    `filters` narrow and order them (search/result_filters.py; InvalidInputError when bad).
    """
    return _narrowed(user, _shown(user, iteration, iteration.results, below_cutoff=False), filters)


def iteration_closest(
    user: AbstractBaseUser,
    iteration: SearchIteration,
    filters: Mapping[str, Any] | None = None,
) -> list[ShownResult]:
    """The closest results shown below the cutoff when none passed it (else empty)."""
    rows = iteration.params.get("closest", [])
    return _narrowed(user, _shown(user, iteration, rows, below_cutoff=True), filters)


def _narrowed(
    user: AbstractBaseUser, shown: list[ShownResult], filters: Mapping[str, Any] | None
) -> list[ShownResult]:
    if not filters_given(filters) or not shown:
        return shown
    by_id = {s.image.pk: s for s in shown}
    return [by_id[i] for i in ranking_narrow(user=user, ranked_ids=list(by_id), data=filters)]


def _shown(
    user: AbstractBaseUser, iteration: SearchIteration, rows: list, *, below_cutoff: bool
) -> list[ShownResult]:
    if not rows:
        return []
    ids = [row[0] for row in rows]
    visible = selectors.images_visible_to(user).select_related("gallery").in_bulk(ids)
    labels = current_judgements(iteration.session)
    return [
        ShownResult(rank, visible[image_id], score, labels.get(image_id), below_cutoff)
        for image_id, rank, score in rows
        if image_id in visible
    ]
