"""Search sessions, relevance judgements and Rocchio refinement.

Judgements accumulate over a session; refining with them applies Rocchio to
the session's *original* query (so feedback is not counted twice when the
user refines again). Pseudo-relevance feedback, as in the source, refines
the *current* query with the top P results of the current iteration.
Every iteration re-checks which galleries the user may still see.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from cbir_site import bounds
from cbir_site.errors import ConflictError, InvalidInputError, NotFoundError
from feedback.config import feedback_config
from feedback.expansion_service import expansion_schedule
from feedback.history import session_query_key
from feedback.models import Judgement, SearchIteration, SearchSession
from feedback.rocchio import RocchioParams, pseudo_feedback, rocchio
from galleries import selectors
from indexing.runtime import active_model_name
from indexing.vector_io import load_vectors
from search.request import SearchRequest
from search.services import SearchResult, search_images

JUDGED_CHOICES = ("none", "pin", "hide")
QUERY_PARAMS = (
    "text_weight",
    "image_weight",
    "negative_weight",
    "fusion",
    "first_phase",
    "strict",
    "rephrasings",  # the query assistant's ideas the user accepted: "Edit search" keeps them
)


def rocchio_defaults() -> RocchioParams:
    config = feedback_config()
    return RocchioParams(
        alpha=config.rocchio_alpha,
        beta=config.rocchio_beta,
        gamma=config.rocchio_gamma,
    )


def search_session_start(
    *, user: AbstractBaseUser, request: SearchRequest
) -> tuple[SearchSession, SearchIteration, SearchResult]:
    result = search_images(user=user, request=request)
    with transaction.atomic():
        session = SearchSession.objects.create(
            user=user,
            model_name=result.model_name,
            query_text=(request.text or "").strip(),
            negative_text=(request.negative_text or "").strip(),
            example_image_ids=list(request.example_ids),
            negative_image_ids=list(request.negative_image_ids),
            uploaded_example=request.image_data is not None,
            gallery_ids=[g.pk for g in result.galleries],
            mode=request.mode or result.mode,
            composition=result.composition,
            params={
                "k": result.k,
                "page_size": result.page_size,
                # the rest of the query, so that it can be shown and run again as it was
                **_query_params(request),
            },
        )
        upload = request.image_data
        session.query_key = session_query_key(
            session, hashlib.sha256(upload).hexdigest() if upload is not None else None
        )
        session.save(update_fields=["query_key"])
        iteration = _iteration_create(session, 0, SearchIteration.Kind.INITIAL, result, {})
    return session, iteration, result


def _query_params(request: SearchRequest) -> dict[str, Any]:
    given = {name: getattr(request, name) for name in QUERY_PARAMS}
    given["rephrasings"] = list(request.rephrasings)
    return {name: value for name, value in given.items() if value is not None}


def search_session_example_set(*, session: SearchSession, token: str) -> None:
    """Record the kept copy of the session's uploaded example (search/example_store.py)."""
    session.params = {**session.params, "example": token}
    session.save(update_fields=["params", "updated_at"])


def session_get(*, user: AbstractBaseUser, session_id: str) -> SearchSession:
    """The user's own session; anyone else's is not found."""
    session = (
        SearchSession.objects.filter(pk=session_id, user=user).first()
        if user.is_authenticated
        else None
    )
    if session is None:
        raise NotFoundError("No such search session.")
    return session


def iteration_get(session: SearchSession, number: int | None = None) -> SearchIteration:
    iterations = session.iterations.all()
    iteration = (
        iterations.filter(number=number).first() if number is not None else iterations.last()
    )
    if iteration is None:
        raise NotFoundError(f"This session has no iteration {number}.")
    return iteration


def judgement_record(
    *,
    session: SearchSession,
    user: AbstractBaseUser,
    image_id: int,
    label: str,
    iteration_number: int | None = None,
) -> tuple[Judgement | None, bool]:
    """Log a judgement (relevant, not_relevant, or withdrawn); return it and whether it is new.

    Repeating the current label changes nothing and logs nothing (a double
    click is one action).
    """
    if session.user_id != user.pk:
        raise NotFoundError("No such search session.")
    if label not in Judgement.Label.values:
        raise InvalidInputError("label must be relevant, not_relevant or withdrawn.")
    image = selectors.image_get_visible(user, image_id=image_id)
    iteration, (rank, score) = _where_shown(session, image.pk, iteration_number)
    with transaction.atomic():
        SearchSession.objects.select_for_update().get(pk=session.pk)  # one writer per session
        latest = session.judgements.filter(image=image).order_by("-id").first()
        current = latest.label if latest else Judgement.Label.WITHDRAWN
        if current == label:
            return latest, False
        judgement = Judgement.objects.create(
            session=session,
            iteration=iteration,
            image=image,
            user=user,
            label=label,
            rank=rank,
            score=score,
        )
        expansion_schedule(image_ids=[image.pk])  # the log changed: re-tally, debounced
    return judgement, True


def current_judgements(session: SearchSession) -> dict[int, str]:
    """image id -> relevant / not_relevant, from the latest row per image."""
    latest: dict[int, str] = {}
    for image_id, label in session.judgements.order_by("id").values_list("image_id", "label"):
        latest[image_id] = label
    return {i: label for i, label in latest.items() if label != Judgement.Label.WITHDRAWN}


def search_session_refine(
    *,
    session: SearchSession,
    user: AbstractBaseUser,
    params: RocchioParams | None = None,
    judged: str = "none",
    pseudo_positives: int = 0,
    pseudo_negatives: bool = False,
) -> tuple[SearchIteration, SearchResult]:
    if session.user_id != user.pk:
        raise NotFoundError("No such search session.")
    if judged not in JUDGED_CHOICES:
        raise InvalidInputError(f"judged must be one of {', '.join(JUDGED_CHOICES)}.")
    if params is not None:  # the same ranges as the form and the API, for every other caller
        for name in ("alpha", "beta", "gamma"):
            bounds.ROCCHIO_WEIGHT.check(name, getattr(params, name))
    bounds.PSEUDO_POSITIVES.check("pseudo_positives", pseudo_positives)
    params = params or rocchio_defaults()
    latest = iteration_get(session)
    judgements = current_judgements(session)
    base: np.ndarray
    if pseudo_positives:
        ranked = [row[0] for row in latest.results]
        relevant, non_relevant = pseudo_feedback(ranked, pseudo_positives, pseudo_negatives)
        base, kind = np.asarray(latest.query_vector, dtype=np.float32), SearchIteration.Kind.PSEUDO
    else:
        relevant = [i for i, label in judgements.items() if label == Judgement.Label.RELEVANT]
        non_relevant = [i for i, label in judgements.items() if label != Judgement.Label.RELEVANT]
        if not relevant and not non_relevant:
            raise InvalidInputError("Mark at least one result relevant or not relevant first.")
        base = np.asarray(iteration_get(session, 0).query_vector, dtype=np.float32)
        kind = SearchIteration.Kind.FEEDBACK
    if session.model_name != active_model_name():  # a model switch since the session began
        raise ConflictError(
            f"Search has moved from {session.model_name} to {active_model_name()} since this "
            "session began: start a new search to refine under the current model."
        )
    try:
        vector = rocchio(base, _vectors(session, relevant), _vectors(session, non_relevant), params)
    except ValueError as exc:  # the weights cancelled the query out
        raise InvalidInputError(f"Cannot refine: {exc}.") from exc
    marked_relevant = [i for i, label in judgements.items() if label == Judgement.Label.RELEVANT]
    pinned = marked_relevant if judged == "pin" else []
    hidden = set(judgements) if judged in ("pin", "hide") else set()
    again = SearchRequest(
        gallery_slugs=_still_visible(session, user),
        k=session.params.get("k"),
        mode=session.mode,
        page_size=session.params.get("page_size"),
        strict=bool(session.params.get("strict")),
    )
    result = search_images(
        user=user, request=again, vector=vector, vector_kind=_kind(session), hide_ids=hidden
    )
    refine_params = {
        **asdict(params),
        "judged": judged,
        "relevant": relevant,
        "non_relevant": non_relevant,
        "pseudo_positives": pseudo_positives,
        "pseudo_negatives": pseudo_negatives,
        "pinned": pinned,
    }
    with transaction.atomic():
        SearchSession.objects.select_for_update().get(pk=session.pk)
        number = (
            session.iterations.order_by("-number").values_list("number", flat=True).first() or 0
        ) + 1
        iteration = _iteration_create(session, number, kind, result, refine_params, pinned=pinned)
    return iteration, result


def _iteration_create(
    session: SearchSession,
    number: int,
    kind: str,
    result: SearchResult,
    params: dict,
    pinned: Sequence[int] = (),
) -> SearchIteration:
    rows: list[list[float | None]] = [[i, 0, None] for i in pinned]
    rows += [[i, 0, round(score, 6)] for i, score in result.ranked if i not in pinned]
    for rank, row in enumerate(rows, start=1):
        row[1] = rank
    shown: dict[str, Any] = {
        "metric": result.metric,
        "thresholds": [
            {"gallery": t.gallery.slug, "distance": t.distance, "source": t.source}
            for t in result.thresholds
        ],
    }
    if result.closest:  # shown below the cutoff, so they can be judged like results
        shown["closest"] = [[h.image.pk, h.rank, round(h.score, 6)] for h in result.closest]
    return SearchIteration.objects.create(
        session=session,
        number=number,
        kind=kind,
        query_vector=result.vector,
        params={**params, **shown},
        results=rows,
        mode=result.mode,
        total=result.total,
    )


def _where_shown(
    session: SearchSession, image_id: int, number: int | None
) -> tuple[SearchIteration, tuple[int, float | None]]:
    """The iteration that showed the image (the given one, or the latest that did).

    Only shown results can be judged: the log teaches collection expansion which
    texts describe which images, so it must not take claims about images the
    search never offered.
    """
    iterations = [iteration_get(session, number)] if number is not None else None
    for iteration in iterations or session.iterations.order_by("-number"):
        for shown_id, rank, score in [*iteration.results, *iteration.params.get("closest", [])]:
            if shown_id == image_id:
                return iteration, (rank, score)
    where = f"iteration {number}" if number is not None else "this session"
    raise InvalidInputError(
        f"Image {image_id} was not among the results of {where}: only shown results can be judged."
    )


def _vectors(session: SearchSession, image_ids: list[int]) -> np.ndarray:
    if not image_ids:
        return np.zeros((0, 1), dtype=np.float32)
    loaded = load_vectors(session.model_name, image_ids=image_ids)
    if len(loaded) == 0 and image_ids:
        raise ConflictError(
            "The judged images have no embedding of this session's model (the model changed?): "
            "start a new search."
        )
    return loaded.vectors


def _kind(session: SearchSession) -> str:
    """Which thresholds a refined query uses: text when the session began with words only."""
    text_only = (
        session.query_text and not session.example_image_ids and not session.uploaded_example
    )
    return "text" if text_only else "image"


def _still_visible(session: SearchSession, user: AbstractBaseUser) -> list[str]:
    slugs = list(
        selectors.galleries_visible_to(user)
        .filter(pk__in=session.gallery_ids)
        .values_list("slug", flat=True)
    )
    if not slugs:
        raise NotFoundError("None of this session's galleries is visible to you any more.")
    return slugs
