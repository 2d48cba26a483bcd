"""The search page: words, example images (uploaded or stored), "not like this", results.

Here, with the sessions, because a signed-in search opens a feedback session
(its results can then be marked); the query itself is search's (forms, links,
services). Its URLs keep the `search:` names (feedback/search_urls.py).
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from cbir_site.config import site_config
from cbir_site.errors import ApplicationError
from cbir_site.throttling import throttled
from feedback.services import search_session_example_set, search_session_start
from feedback.viewer import viewer_items
from galleries import selectors
from galleries.imaging import ImageRejected, read_limited
from indexing.runtime import candidate_model_name
from search.config import search_config
from search.example_store import example_keep, example_load
from search.forms import MAX_WEB_EXAMPLES, SearchForm
from search.links import DEFAULT_CHOICES, DEFAULT_WEIGHTS, Example, SearchParams
from search.match import MatchScale
from search.request import Mode, ModelRole
from search.result_filters import filter_form, filter_pairs, filters_given
from search.selectors import query_examples
from search.services import SearchResult, search_images
from search.wording import unchecked_galleries

# Asking for a search: any of these in the request (a preselected gallery alone is not one).
QUERY_FIELDS = ("q", "not_q", "image_id", "like", "unlike", "example")
EXAMPLE_GONE = (
    "Your uploaded example image is no longer kept (it is kept for a few hours, in the "
    "browser that sent it): upload it again."
)


@require_http_methods(["GET", "POST"])
@throttled("search", methods=("GET", "POST"))
def search_page(request: HttpRequest) -> HttpResponse:
    picker = selectors.galleries_for_picker(request.user)
    choices = [(g.slug, label) for g, label, _ in picker]
    data = (request.POST if request.method == "POST" else request.GET).copy()
    if set(data.getlist("galleries")) == {slug for slug, _ in choices}:
        data.setlist("galleries", [])  # every gallery ticked: the same as none, "all you can see"
    if data:  # a bound form shows its data, not the initial values: show the defaults
        defaults = {"k": search_config().default_k, **DEFAULT_CHOICES, **DEFAULT_WEIGHTS}
        for name, value in defaults.items():
            if not data.get(name):
                data[name] = str(value)
    candidate = candidate_model_name() if request.user.is_staff else None
    form = SearchForm(
        data or None, request.FILES or None, gallery_choices=choices, candidate=candidate
    )
    result = None
    example = _kept_example(request, form, data)
    params = SearchParams.from_data(data)
    filters = filter_form(user=request.user, data=data)
    examples = query_examples(user=request.user, params=params)
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
            outcome = _search(request, form, example)
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
        "uploaded": data.get("example") or "",
        "has_galleries": bool(choices),
        "picker": _picker(picker, form),
        "filter_form": filters,
        "filters_open": filters_given(data),
        "pages": _pages(result, params, filter_pairs(data)),
        "scale": MatchScale.of(s for _, s in result.ranked) if result else None,
        "unchecked": _unchecked(form, result),
        "none_checked": _none_checked(form, result),
        "min_images": search_config().threshold_min_images,
        "viewer": viewer_items(request.user, [h.image for h in _shown(result)]),
    }
    status = 400 if form.errors or not filters_ok else 200
    return render(request, "search/page.html", context, status=status)


def _kept_example(request: HttpRequest, form: SearchForm, data) -> bytes | None:  # type: ignore[no-untyped-def]
    """A new upload is kept (its token goes into `data`); else the kept one is loaded."""
    upload = request.FILES.get("image")
    if upload is not None:
        try:
            image_data = read_limited(upload, site_config().max_upload_bytes)
        except ImageRejected as exc:
            form.add_error("image", exc.message)
            return None
        data["example"] = example_keep(session=request.session, data=image_data)
        return image_data
    token = (data.get("example") or "").strip()
    if not token:
        return None
    kept = example_load(session=request.session, token=token)
    if kept is None:
        data["example"] = ""
        form.add_error(None, EXAMPLE_GONE)
    return kept


def _none_checked(form: SearchForm, result: SearchResult | None) -> bool:
    """A cutoff search whose galleries all lack a statistic ran as top-k: nothing was checked."""
    if result is None or result.mode != Mode.TOPK or not form.is_bound:
        return False
    asked = form.cleaned_data.get("mode") if form.is_valid() else ""
    return (asked or search_config().default_mode) != Mode.TOPK


def _unchecked(form: SearchForm, result: SearchResult | None) -> set[str]:
    if result is None:
        return set()
    if _none_checked(form, result):
        return {h.image.gallery.slug for h in _shown(result)}
    return unchecked_galleries(result.thresholds)


def _shown(result: SearchResult | None) -> list:
    return [] if result is None else [*result.hits, *result.closest]


def _search(
    request: HttpRequest, form: SearchForm, example: bytes | None
) -> SearchResult | HttpResponse:
    search = form.to_request(image_data=example)
    data = request.POST if request.method == "POST" else request.GET
    if search.model == ModelRole.CANDIDATE:  # staff checking a candidate model: no session
        return search_images(user=request.user, request=search)
    if request.user.is_authenticated:
        # Signed in: the search becomes a session the user can judge and refine; the result
        # filters travel to its page, which applies them to the whole ranking.
        session, _, _ = search_session_start(user=request.user, request=replace(search, page=1))
        if example is not None:
            search_session_example_set(session=session, token=form.data.get("example", ""))
        url = reverse("feedback:session", args=[session.pk])
        query = urlencode(filter_pairs(data))
        return redirect(f"{url}?{query}" if query else url)
    return search_images(user=request.user, request=replace(search, filters=data))


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
    result, params: SearchParams, filters: list[tuple[str, str]]
) -> dict[str, object] | None:
    """Links to the other pages of a thresholded result (GET, so they can be shared);
    they keep the query, its kept example image and the result filters."""
    if result is None or result.mode == Mode.TOPK or result.total <= result.page_size:
        return None
    last = (result.total + result.page_size - 1) // result.page_size

    def href(number: int) -> str:
        parts = (params.query(), urlencode(filters), f"page={number}")
        return "?" + "&".join(q for q in parts if q)

    return {
        "number": result.page,
        "last": last,
        "previous": href(result.page - 1) if result.page > 1 else "",
        "next": href(result.page + 1) if result.page < last else "",
        "numbers": [
            {"number": n, "href": href(n), "current": n == result.page}
            for n in range(max(1, result.page - 2), min(last, result.page + 2) + 1)
        ],
    }
