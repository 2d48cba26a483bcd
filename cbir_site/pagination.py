"""One way to cut a list into pages, for the REST API and the web pages alike.

Every surface goes through `page_of` (Django's Paginator underneath) and takes its page
size from the same bound (bounds.k_bound(): up to CBIR_SEARCH_MAX_K). What each answers
for a page that does not exist is its own, and stays as its clients know it:

- API lists (`paginate`): ?page_size= is cut to the bound (a value that is no positive
  number gives the default); a page that does not exist is a 404 ("Invalid page.");
  ?page=last is the last page. The body is {count, next, previous, results}.
- API pages of an iteration's results (`query_page_size`, `query_page` with strict
  checks): ?page= or ?page_size= outside their bounds is a 400; a page past the end is
  empty.
- Web pages (`PastEnd.LAST`): a page that is not a number is the first, one past the
  end the last, so a stale link still shows something.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Any

from django.core.paginator import EmptyPage, InvalidPage, Page, Paginator
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.settings import api_settings
from rest_framework.utils.urls import remove_query_param, replace_query_param

from cbir_site import bounds
from cbir_site.errors import InvalidInputError, NotFoundError


class PastEnd(enum.Enum):
    """The answer for a page number that names no page."""

    NOT_FOUND = "not_found"  # 404 (API lists)
    EMPTY = "empty"  # an empty page (API pages of results; the number is checked first)
    LAST = "last"  # the nearest page (web pages)


def page_of(items: Sequence[Any] | Any, number: object, size: int, *, past_end: PastEnd) -> Page:
    """Page `number` (a request's text or an int) of `items` (a list or a queryset)."""
    paginator = Paginator(items, size)
    if past_end is PastEnd.LAST:
        return paginator.get_page(number)
    if number is None:
        number = 1
    elif number == "last" and past_end is PastEnd.NOT_FOUND:
        number = paginator.num_pages
    try:
        return paginator.page(number)
    except EmptyPage:
        if past_end is PastEnd.EMPTY:
            return Page([], int(str(number)), paginator)
        raise NotFoundError("Invalid page.") from None
    except InvalidPage as exc:
        raise NotFoundError("Invalid page.") from exc


def query_page_size(raw: str | None, *, default: int, strict: bool) -> int:
    """?page_size= within the page-size bound. strict: 400 when outside it; otherwise cut
    to the bound, and the default for a value that is no positive number."""
    bound = bounds.k_bound()
    if strict:
        return _checked("page_size", raw, default, bound)
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        return default
    return default if value <= 0 else min(value, int(bound.maximum))


def query_page(raw: str | None) -> int:
    """?page= within bounds.PAGE, else a 400 (pages of results)."""
    return _checked("page", raw, 1, bounds.PAGE)


def _checked(name: str, raw: str | None, default: int, bound: bounds.Bound) -> int:
    try:
        value = int(raw) if raw else default
    except ValueError as exc:
        raise InvalidInputError(f"{name} must be {bound.describe()}.", code="invalid") from exc
    bound.check(name, value)
    return value


def paginate(
    request: Request,
    items: Any,
    serializer: Callable[[list[Any]], BaseSerializer],
) -> Response:
    """An API list: one page of `items` with the count and links to its neighbours."""
    params = request.query_params
    size = query_page_size(params.get("page_size"), default=api_settings.PAGE_SIZE, strict=False)
    page = page_of(items, params.get("page"), size, past_end=PastEnd.NOT_FOUND)
    url = request.build_absolute_uri()
    previous = None
    if page.has_previous():
        number = page.previous_page_number()
        previous = (
            remove_query_param(url, "page")
            if number == 1
            else replace_query_param(url, "page", number)
        )
    following = None
    if page.has_next():
        following = replace_query_param(url, "page", page.next_page_number())
    return Response(
        {
            "count": page.paginator.count,
            "next": following,
            "previous": previous,
            "results": serializer(list(page)).data,
        }
    )
