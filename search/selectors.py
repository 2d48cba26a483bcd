"""Reads for the search page: the stored examples of a query, a session's parameters."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from galleries.selectors import galleries_visible_to, images_visible_to
from search.links import Example, SearchParams, session_params


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
