"""The search page: words, example images (uploaded or stored), "not like this", results."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from cbir_site.errors import ApplicationError
from cbir_site.throttling import throttled
from feedback.services import search_session_start
from galleries import selectors
from galleries.imaging import ImageRejected, read_limited
from search.forms import MAX_WEB_EXAMPLES, SearchForm
from search.links import DEFAULT_CHOICES, DEFAULT_WEIGHTS, Example, SearchParams
from search.runtime import candidate_model_name
from search.selectors import query_examples
from search.services import SearchResult, search_images

# Asking for a search: any of these in the request (a preselected gallery alone is not one).
QUERY_FIELDS = ("q", "not_q", "image_id", "like", "unlike")


@require_http_methods(["GET", "POST"])
@throttled("search", methods=("GET", "POST"))
def search_page(request: HttpRequest) -> HttpResponse:
    visible = selectors.galleries_visible_to(request.user).order_by("name")
    choices = [(g.slug, g.name) for g in visible]
    data = (request.POST if request.method == "POST" else request.GET).copy()
    if data:  # a bound form shows its data, not the initial values: show the defaults
        defaults = {"k": settings.CBIR_SEARCH_DEFAULT_K, **DEFAULT_CHOICES, **DEFAULT_WEIGHTS}
        for name, value in defaults.items():
            if not data.get(name):
                data[name] = str(value)
    candidate = candidate_model_name() if request.user.is_staff else None
    form = SearchForm(
        data or None, request.FILES or None, gallery_choices=choices, candidate=candidate
    )
    params = SearchParams.from_data(data)
    examples = query_examples(user=request.user, params=params)
    result = None
    # The form may arrive with only a gallery preselected ("search this gallery"): show it.
    # ?edit=1 shows a query in the form without running it (the session page links to it).
    wants_search = any(data.get(n, "").strip() for n in QUERY_FIELDS) or bool(request.FILES)
    if wants_search and not data.get("edit") and form.is_valid() and _visible(form, examples):
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
        "pages": _pages(result, params, uploaded=bool(request.FILES)),
    }
    return render(request, "search/page.html", context, status=400 if form.errors else 200)


def _search(request: HttpRequest, form: SearchForm) -> SearchResult | HttpResponse:
    fields = form.cleaned_data
    image_data = None
    if fields.get("image"):
        image_data = read_limited(fields["image"], settings.CBIR_MAX_UPLOAD_BYTES)
    arguments = {**form.search_arguments(), "image_data": image_data}
    if fields.get("model") == "candidate":  # staff checking a candidate model: no session
        return search_images(
            user=request.user, page=fields.get("page") or 1, model="candidate", **arguments
        )
    if request.user.is_authenticated:
        # Signed in: the search becomes a session the user can judge and refine.
        session, _, _ = search_session_start(user=request.user, **arguments)
        return redirect("feedback:session", session_id=session.pk)
    return search_images(user=request.user, page=fields.get("page") or 1, **arguments)


def _visible(form: SearchForm, examples: list[Example]) -> bool:
    """Report the examples the user cannot see as form errors (not found, never a 500)."""
    for example in examples:
        if example.image is None:
            form.add_error(
                example.kind,
                f"There is no image {example.image_id} you can see: remove it from the examples.",
            )
    return not form.errors


def _pages(result, params: SearchParams, *, uploaded: bool) -> dict[str, object] | None:  # type: ignore[no-untyped-def]
    """Links to the other pages of a thresholded result (GET, so they can be shared).

    A search by an uploaded example image cannot be repeated from a link: it
    shows its first page only.
    """
    if result is None or result.mode == "topk" or result.total <= result.page_size or uploaded:
        return None
    last = (result.total + result.page_size - 1) // result.page_size
    return {
        "number": result.page,
        "last": last,
        "previous": result.page - 1 if result.page > 1 else 0,
        "next": result.page + 1 if result.page < last else 0,
        "query": params.query(),
    }
