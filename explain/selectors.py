"""Reads for explanations: what a user may have explained, and the words that need no model.

Permissions are those of the result itself: the session's owner only, an
image they may still see, and one the iteration actually showed; anything
else is "not found".
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
from django.contrib.auth.models import AbstractBaseUser

from cbir_site.errors import NotFoundError
from explain.words import expansion_lift, rank_change
from feedback import services as feedback_services
from feedback.models import Expansion, SearchIteration, SearchSession
from galleries import selectors as gallery_selectors
from galleries.models import Image
from indexing.models import Embedding

USED = (Expansion.Status.ADMITTED, Expansion.Status.APPROVED)


def explanation_target(
    user: AbstractBaseUser, *, session_id: str, number: int, image_id: int
) -> tuple[SearchSession, SearchIteration, Image]:
    session = feedback_services.session_get(user=user, session_id=session_id)
    iteration = feedback_services.iteration_get(session, number)
    image = gallery_selectors.image_get_visible(user, image_id=image_id)
    shown = {row[0] for row in [*iteration.results, *iteration.params.get("closest", [])]}
    if image.pk not in shown:
        raise NotFoundError(f"Image {image_id} is not a result of iteration {number}.")
    return session, iteration, image


def request_words(
    user: AbstractBaseUser, *, session: SearchSession, iteration: SearchIteration, image: Image
) -> dict[str, Any]:
    """The rank change since the previous iteration and the expansion that lifted the image."""
    words: dict[str, Any] = {}
    if iteration.number > 0:
        previous = (
            session.iterations.filter(number__lt=iteration.number).order_by("-number").first()
        )
        if previous is not None:
            change = rank_change(
                image_id=image.pk,
                previous_number=previous.number,
                previous=previous.results,
                current=iteration.results,
            )
            words["rank_change"] = {**asdict(change), "moved": change.moved}
    lift = _expansion_lift(user, session, iteration, image)
    if lift is not None:
        words["expansion"] = lift
    return words


def _expansion_lift(
    user: AbstractBaseUser, session: SearchSession, iteration: SearchIteration, image: Image
) -> dict[str, Any] | None:
    rows = list(
        Expansion.objects.filter(
            image=image, model_name=session.model_name, status__in=USED, vector__isnull=False
        ).values_list("text", "source", "vector")
    )
    own = (
        Embedding.objects.filter(image=image, model_name=session.model_name)
        .values_list("vector", flat=True)
        .first()
    )
    if not rows or own is None:
        return None
    # Confirmed query texts are private to the gallery's managers (feedback/models.py); a
    # viewer learns only that other users' confirmations lifted the image.
    manager = gallery_selectors.galleries_managed_by(user).filter(pk=image.gallery_id).exists()
    shown = [
        (text if source == Expansion.Source.CAPTION or manager else None, source, np.asarray(v))
        for text, source, v in rows
    ]
    lift = expansion_lift(
        query=np.asarray(iteration.query_vector), own=np.asarray(own), expansions=shown
    )
    return None if lift is None else {k: _rounded(v) for k, v in asdict(lift).items()}


def _rounded(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value
