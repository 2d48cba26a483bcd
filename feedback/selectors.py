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


def sessions_of(user: AbstractBaseUser) -> QuerySet[SearchSession]:
    if not user.is_authenticated:
        return SearchSession.objects.none()
    return SearchSession.objects.filter(user=user)


def iteration_results(user: AbstractBaseUser, iteration: SearchIteration) -> list[ShownResult]:
    """The iteration's ranked results, minus any image the user may no longer see."""
    ids = [row[0] for row in iteration.results]
    visible = selectors.images_visible_to(user).select_related("gallery").in_bulk(ids)
    labels = current_judgements(iteration.session)
    return [
        ShownResult(rank=rank, image=visible[image_id], score=score, label=labels.get(image_id))
        for image_id, rank, score in iteration.results
        if image_id in visible
    ]
