"""The search page: words, example images (uploaded or stored), "not like this", results."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from cbir_site.errors import ApplicationError
from cbir_site.throttling import throttled
from feedback.services import search_session_start
from galleries import selectors
from galleries.imaging import ImageRejected, read_limited
from search.forms import MAX_WEB_EXAMPLES, SearchForm
from search.links import DEFAULT_CHOICES, DEFAULT_WEIGHTS, Example, SearchParams
from search.result_filters import FILTER_FIELDS, filter_form, filters_given
from search.selectors import query_examples
from search.services import SearchResult, search_images

# Asking for a search: any of these in the request (a preselected gallery alone is not one).
QUERY_FIELDS = ("q", "not_q", "image_id", "like", "unlike")


@require_http_methods(["GET", "POST"])
@throttled("search", methods=("GET", "POST"))
def search_page(request: HttpRequest) -> HttpResponse:
    picker = selectors.galleries_for_picker(request.user)
    choices = [(g.slug, label) for g, label, _ in picker]
    data = (request.POST if request.method == "POST" else request.GET).copy()
    if set(data.getlist("galleries")) == {slug for slug, _ in choices}:
        data.setlist("galleries", [])  # every gallery ticked: the same as none, "all you can see"
    if data:  # a bound form shows its data, not the initial values: show the defaults
        defaults = {"k": settings.CBIR_SEARCH_DEFAULT_K, **DEFAULT_CHOICES, **DEFAULT_WEIGHTS}
        for name, value in defaults.items():
            if not data.get(name):
                data[name] = str(value)
    form = SearchForm(data or None, request.FILES or None, gallery_choices=choices)
    params = SearchParams.from_data(data)
    filters = filter_form(user=request.user, data=data)
    examples = query_examples(user=request.user, params=params)
    result = None
    # The form may arrive with only a gallery preselected ("search this gallery"): show it.
    # ?edit=1 shows a query in the form without running it (the session page links to it).
    wants_search = any(data.get(n, "").strip() for n in QUERY_FIELDS) or bool(request.FILES)
    filters_ok = not filters.is_bound or filters.is_valid()
    if (
        wants_search
        and not data.get("edit")
        and form.is_valid()
        and _visible(form, examples)
        and filters_ok
    ):
        try:
            outcome = _search(request, form)
            if isinstance(outcome, HttpResponse):
                return outcome  # signed in: on to the session page
            result = outcome
        except ImageRejected as exc:
            form.add_error("image", exc.message)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
    context = {
        "form": form,
        "result": result,
        "params": params,
        "examples": examples,
        "max_examples": MAX_WEB_EXAMPLES,
        "uploaded": bool(request.FILES),
        "has_galleries": bool(choices),
        "picker": _picker(picker, form),
        "filter_form": filters,
        "filters_open": filters_given(data),
        "pages": _pages(
            result, params, uploaded=bool(request.FILES), filter_query=_filter_query(data)
        ),
    }
    status = 400 if form.errors or not filters_ok else 200
    return render(request, "search/page.html", context, status=status)


def _search(request: HttpRequest, form: SearchForm) -> SearchResult | HttpResponse:
    fields = form.cleaned_data
    image_data = None
    if fields.get("image"):
        image_data = read_limited(fields["image"], settings.CBIR_MAX_UPLOAD_BYTES)
    arguments = {**form.search_arguments(), "image_data": image_data}
    data = request.POST if request.method == "POST" else request.GET
    if request.user.is_authenticated:
        # Signed in: the search becomes a session the user can judge and refine; the result
        # filters travel to its page, which applies them to the whole ranking.
        session, _, _ = search_session_start(user=request.user, **arguments)
        url = reverse("feedback:session", args=[session.pk])
        query = _filter_query(data)
        return redirect(f"{url}?{query}" if query else url)
    return search_images(user=request.user, page=fields.get("page") or 1, filters=data, **arguments)


def _filter_query(data) -> str:  # type: ignore[no-untyped-def]
    """The result filters of the request as a query string ('' when none)."""
    pairs = [
        (name, value)
        for name in FILTER_FIELDS
        for value in data.getlist(name)
        if str(value).strip()
    ]
    return urlencode(pairs)


def _picker(picker, form: SearchForm) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    """The gallery picker's rows: slug, label (names told apart), image count, checked."""
    chosen = set(form["galleries"].value() or [])
    return [
        {"slug": g.slug, "label": label, "count": count, "checked": g.slug in chosen}
        for g, label, count in picker
    ]


def _visible(form: SearchForm, examples: list[Example]) -> bool:
    """Report the examples the user cannot see as form errors (not found, never a 500)."""
    for example in examples:
        if example.image is None:
            form.add_error(
                example.kind,
                f"There is no image {example.image_id} you can see: remove it from the examples.",
            )
    return not form.errors


def _pages(  # type: ignore[no-untyped-def]
    result, params: SearchParams, *, uploaded: bool, filter_query: str = ""
) -> dict[str, object] | None:
    """Links to the other pages of a thresholded result (GET, so they can be shared).

    A search by an uploaded example image cannot be repeated from a link: it
    shows its first page only.
    """
    if result is None or result.mode == "topk" or result.total <= result.page_size or uploaded:
        return None
    last = (result.total + result.page_size - 1) // result.page_size
    query = "&".join(q for q in (params.query(), filter_query) if q)
    return {
        "number": result.page,
        "last": last,
        "previous": result.page - 1 if result.page > 1 else 0,
        "next": result.page + 1 if result.page < last else 0,
        "query": query,
    }
