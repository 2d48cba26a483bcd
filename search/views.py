"""The search page: text box, example image, gallery filter, results grid with scores."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from cbir_site.errors import ApplicationError
from cbir_site.throttling import throttled
from feedback.services import search_session_start
from galleries import selectors
from galleries.imaging import ImageRejected, read_limited
from search.forms import SearchForm
from search.services import search_images


@require_http_methods(["GET", "POST"])
@throttled("search", methods=("GET", "POST"))
def search_page(request: HttpRequest) -> HttpResponse:
    visible = selectors.galleries_visible_to(request.user).order_by("name")
    choices = [(g.slug, g.name) for g in visible]
    data = (request.POST if request.method == "POST" else request.GET).copy()
    if data and not data.get("k"):
        data["k"] = str(settings.CBIR_SEARCH_DEFAULT_K)  # show the default in the form
    form = SearchForm(data or None, request.FILES or None, gallery_choices=choices)
    result, example = None, None
    # The form may arrive with only a gallery preselected ("search this gallery"): show it.
    wants_search = bool(data.get("q", "").strip() or data.get("image_id") or request.FILES)
    if wants_search and form.is_valid():
        fields = form.cleaned_data
        try:
            image_data = None
            if fields.get("image"):
                image_data = read_limited(fields["image"], settings.CBIR_MAX_UPLOAD_BYTES)
            if fields.get("image_id"):
                example = selectors.image_get_visible(request.user, image_id=fields["image_id"])
            arguments = {
                "text": fields.get("q"),
                "image_data": image_data,
                "image_id": fields.get("image_id"),
                "negative_text": fields.get("not_q"),
                "composition": fields.get("composition") or "sum",
                "gallery_slugs": fields.get("galleries") or None,
                "k": fields.get("k"),
                "mode": fields.get("mode") or None,
            }
            if request.user.is_authenticated:
                # Signed in: the search becomes a session the user can judge and refine.
                session, _, _ = search_session_start(user=request.user, **arguments)
                return redirect("feedback:session", session_id=session.pk)
            result = search_images(user=request.user, page=fields.get("page") or 1, **arguments)
        except ImageRejected as exc:
            form.add_error("image", exc.message)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
    status = 400 if form.errors else 200
    context = {
        "form": form,
        "result": result,
        "example": example,
        "has_galleries": bool(choices),
        "pages": _pages(result, form, uploaded=bool(request.FILES)),
    }
    return render(request, "search/page.html", context, status=status)


def _pages(result, form: SearchForm, *, uploaded: bool) -> dict[str, object] | None:  # type: ignore[no-untyped-def]
    """Links to the other pages of a thresholded result (GET, so they can be shared).

    A search by an uploaded example image cannot be repeated from a link: it
    shows its first page only.
    """
    if result is None or result.mode == "topk" or result.total <= result.page_size or uploaded:
        return None
    last = (result.total + result.page_size - 1) // result.page_size
    fields = form.cleaned_data
    params = [(name, fields[name]) for name in ("q", "image_id", "k", "mode") if fields.get(name)]
    params += [("galleries", slug) for slug in fields.get("galleries") or []]
    return {
        "number": result.page,
        "last": last,
        "previous": result.page - 1 if result.page > 1 else 0,
        "next": result.page + 1 if result.page < last else 0,
        "query": urlencode(params),
    }
