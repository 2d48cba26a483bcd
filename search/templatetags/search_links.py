"""Template helpers for links that extend the current query: "more like this", "not like this"."""

from __future__ import annotations

from dataclasses import dataclass

from django import template

from search.links import Example, SearchParams
from search.selectors import query_examples, session_search_params

register = template.Library()


@register.filter
def like_url(params: SearchParams, image_id: int) -> str:
    return params.with_like(int(image_id)).url()


@register.filter
def unlike_url(params: SearchParams, image_id: int) -> str:
    return params.with_unlike(int(image_id)).url()


@register.filter
def best_matches_url(params: SearchParams) -> str:
    """The same query in top-k mode: "Show best matches" when nothing passed the cutoff."""
    return params.with_field("mode", "topk").url()


@dataclass(frozen=True)
class SessionQuery:
    params: SearchParams
    examples: list[Example]
    edit_url: str


@register.simple_tag(takes_context=True)
def session_query(context, session) -> SessionQuery:  # type: ignore[no-untyped-def]
    """The session's query as links: {% session_query session as current %}."""
    user = context["request"].user
    params = session_search_params(user=user, session=session)
    return SessionQuery(
        params=params,
        examples=query_examples(user=user, params=params),
        edit_url=params.url(edit=1),
    )
