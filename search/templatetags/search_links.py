"""Template helpers for links that extend the current query: "more like this", "not like this"."""

from __future__ import annotations

from dataclasses import dataclass

from django import template

from search.example_store import example_available
from search.links import Example, SearchParams
from search.match import MatchScale
from search.request import Mode
from search.selectors import query_examples, session_search_params
from search.wording import mode_label

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
    return params.with_field("mode", Mode.TOPK).url()


@dataclass(frozen=True)
class SessionQuery:
    params: SearchParams
    examples: list[Example]
    edit_url: str
    uploaded: str = ""  # the token of the kept uploaded example, while it is kept
    uploaded_lost: bool = False  # the session had an uploaded example that is no longer kept


@register.simple_tag(takes_context=True)
def session_query(context, session) -> SessionQuery:  # type: ignore[no-untyped-def]
    """The session's query as links: {% session_query session as current %}."""
    request = context["request"]
    params = session_search_params(user=request.user, session=session)
    token = params.field("example")
    kept = example_available(session=request.session, token=token)
    if token and not kept:
        params = params.with_field("example", "")
    return SessionQuery(
        params=params,
        examples=query_examples(user=request.user, params=params),
        edit_url=params.url(edit=1),
        uploaded=token if kept else "",
        uploaded_lost=session.uploaded_example and not kept,
    )


@register.filter
def without_upload_url(params: SearchParams) -> str:
    """The same query without its uploaded example image (edit mode: shown, not run)."""
    return params.with_field("example", "").url(edit=1)


@register.filter
def match(score: float | None, scale: MatchScale | None) -> int | None:
    """A raw score as the 0-100 match people see (search/match.py)."""
    if scale is None:
        return None if score is None else MatchScale.of([score]).percent(score)
    return scale.percent(score)


@register.filter
def is_in(value: object, container: object) -> bool:
    return bool(container) and value in container  # type: ignore[operator]  # templates pass a list, set or dict


@register.filter(name="mode_label")
def mode_label_filter(mode: str) -> str:
    return mode_label(mode)
