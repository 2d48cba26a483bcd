"""Reads about indexing state, and the stored examples of a search-page query."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from galleries.models import Gallery
from galleries.selectors import galleries_visible_to, gallery_status_counts, images_visible_to
from search.encoders.base import EncoderUnavailable
from search.links import Example, SearchParams, session_params
from search.models import Embedding
from search.runtime import active_model_name, candidate_model_name


def gallery_indexing_status(gallery: Gallery) -> dict[str, object]:
    """Per-gallery progress: image counts by status and how many the active model covers."""
    counts = gallery_status_counts(gallery)
    try:
        model = active_model_name()
    except EncoderUnavailable:
        model = None
    indexed = (
        Embedding.objects.filter(gallery_id=gallery.pk, model_name=model).count() if model else 0
    )
    total = counts["total"]
    candidate = None
    candidate_name = candidate_model_name()
    if candidate_name:
        done = Embedding.objects.filter(
            gallery_id=gallery.pk, model_name=candidate_name, image__status="ready"
        ).count()
        ready = counts["ready"]
        candidate = {
            "model_name": candidate_name,
            "indexed": done,
            "progress": 1.0 if ready == 0 else round(min(done / ready, 1.0), 4),
        }
    return {
        "gallery": gallery.slug,
        **counts,
        "model_name": model,
        "indexed": indexed,
        "progress": 1.0 if total == 0 else round(min(indexed / total, 1.0), 4),
        "candidate": candidate,
    }


def query_examples(
    *, user: AbstractBaseUser | AnonymousUser, params: SearchParams, limit: int = 20
) -> list[Example]:
    """The query's stored examples in order; those the user may not see have image None."""
    wanted = [*((i, "like") for i in params.like), *((i, "unlike") for i in params.unlike)]
    wanted = wanted[:limit]  # enough to show, and to remove, an excess over the cap
    images = images_visible_to(user).select_related("gallery").in_bulk([i for i, _ in wanted])
    return [Example(i, kind, images.get(i), params.without(i).url()) for i, kind in wanted]


def session_search_params(*, user: AbstractBaseUser, session) -> SearchParams:  # type: ignore[no-untyped-def]
    """A feedback session's query as search-page parameters.

    Its galleries are named only when they were a choice: a session that
    searched every gallery the user can see keeps searching all of them.
    """
    visible = dict(galleries_visible_to(user).values_list("pk", "slug"))
    searched = [visible[g] for g in session.gallery_ids if g in visible]
    slugs = [] if set(session.gallery_ids) >= set(visible) else searched
    return session_params(session, slugs)
