"""Search history: identical queries shown once, with thumbnails; deleting an entry.

Each session carries a `query_key`, a digest of what was asked (words, "not like"
words, example images, an uploaded example's SHA-256, galleries, mode, composition
and weights). Sessions with the same key are one entry of the history: the latest
is listed, with how many times it was run. Deleting an entry deletes all of them,
with their judgements (the user's own data; collection expansion re-tallies).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, OuterRef, QuerySet, Subquery

from feedback.models import Judgement, SearchIteration, SearchSession
from galleries.selectors import images_visible_to

THUMBNAILS = 4
# Session params that say how the query was asked (k and page_size only how much was shown).
KEYED_PARAMS = ("text_weight", "image_weight", "negative_weight", "fusion", "first_phase")


def query_key(
    *,
    query_text: str,
    negative_text: str,
    example_image_ids: list[int],
    negative_image_ids: list[int],
    upload_sha256: str | None,
    gallery_ids: list[int],
    mode: str,
    composition: str,
    params: dict[str, Any],
) -> str:
    """The digest that makes two searches "the same query" in the history."""
    asked = {
        "q": " ".join(query_text.split()).casefold(),
        "not": " ".join(negative_text.split()).casefold(),
        "like": list(example_image_ids),
        "unlike": list(negative_image_ids),
        "upload": upload_sha256,
        "galleries": sorted(gallery_ids),
        "mode": mode,
        "composition": composition,
        "params": {name: params.get(name) for name in KEYED_PARAMS},
    }
    return hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()


def session_query_key(session: SearchSession, upload_sha256: str | None = None) -> str:
    return query_key(
        query_text=session.query_text,
        negative_text=session.negative_text,
        example_image_ids=session.example_image_ids,
        negative_image_ids=session.negative_image_ids,
        # An upload whose bytes are unknown (older sessions) never matches another search.
        upload_sha256=upload_sha256 or (str(session.pk) if session.uploaded_example else None),
        gallery_ids=session.gallery_ids,
        mode=session.mode,
        composition=session.composition,
        params=session.params,
    )


def history_of(user: AbstractBaseUser) -> QuerySet[SearchSession]:
    """The user's history, newest first: the latest session of each distinct query.

    Each row has `times` (how often that query was run) and `iteration_count`.
    """
    if not user.is_authenticated:
        return SearchSession.objects.none()
    return each_query_once(SearchSession.objects.filter(user=user))


def each_query_once(own: QuerySet[SearchSession]) -> QuerySet[SearchSession]:
    """The latest of `own` (one user's sessions) for each distinct query, newest first,
    with `times` and `iteration_count`."""
    latest = own.order_by("query_key", "-created_at", "-pk").distinct("query_key").values("pk")
    times = (
        own.filter(query_key=OuterRef("query_key"))
        .order_by()
        .values("query_key")
        .annotate(n=Count("pk"))
        .values("n")
    )
    iterations = (
        SearchIteration.objects.filter(session=OuterRef("pk"))
        .order_by()
        .values("session")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        SearchSession.objects.filter(pk__in=latest)
        .annotate(times=Subquery(times), iteration_count=Subquery(iterations))
        .order_by("-created_at", "-pk")
    )


def history_thumbnails(
    user: AbstractBaseUser, sessions: list[SearchSession], limit: int = THUMBNAILS
) -> dict[Any, list[int]]:
    """session pk -> up to `limit` image ids to show: its examples, then its first results.

    Only images the user may still see; two queries for all the sessions of a page.
    """
    first = SearchIteration.objects.filter(session__in=sessions, number=0)
    results = dict(first.values_list("session_id", "results"))
    wanted = {
        s.pk: list(
            dict.fromkeys(
                [*s.example_image_ids, *(row[0] for row in (results.get(s.pk) or [])[: limit * 3])]
            )
        )
        for s in sessions
    }
    every = {i for ids in wanted.values() for i in ids}
    visible = set(images_visible_to(user).filter(pk__in=every).values_list("pk", flat=True))
    return {pk: [i for i in ids if i in visible][:limit] for pk, ids in wanted.items()}


def history_entry_delete(
    *, user: AbstractBaseUser, session: SearchSession, with_repeats: bool = True
) -> int:
    """Delete a session (and, by default, every session of the same query); return how many.

    Judgements go with them: the images they were about are re-tallied for expansion.
    """
    from feedback.expansion_service import expansion_schedule

    doomed = SearchSession.objects.filter(user=user)
    doomed = doomed.filter(query_key=session.query_key) if with_repeats else doomed
    doomed = doomed if with_repeats else doomed.filter(pk=session.pk)
    with transaction.atomic():
        judged = list(
            Judgement.objects.filter(session__in=doomed).values_list("image_id", flat=True)
        )
        count = doomed.count()
        doomed.delete()
        if judged:
            transaction.on_commit(lambda: expansion_schedule(image_ids=judged))
    return count
