"""Reads of search sessions: an iteration's results as the user may see them now."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from feedback.models import SearchIteration, SearchSession
from feedback.services import current_judgements
from galleries import selectors
from galleries.models import Image


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


def iteration_results(user: AbstractBaseUser, iteration: SearchIteration) -> list[ShownResult]:
    """The iteration's ranked results, minus any image the user may no longer see."""
    return _shown(user, iteration, iteration.results, below_cutoff=False)


def iteration_closest(user: AbstractBaseUser, iteration: SearchIteration) -> list[ShownResult]:
    """The closest results shown below the cutoff when none passed it (else empty)."""
    return _shown(user, iteration, iteration.params.get("closest", []), below_cutoff=True)


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
