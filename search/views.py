"""The search page: text box, example image, gallery filter, results grid with scores."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from cbir_site.errors import ApplicationError
from galleries import selectors
from galleries.imaging import ImageRejected, read_limited
from search.forms import SearchForm
from search.services import search_images


@require_http_methods(["GET", "POST"])
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
            result = search_images(
                user=request.user,
                text=fields.get("q"),
                image_data=image_data,
                image_id=fields.get("image_id"),
                gallery_slugs=fields.get("galleries") or None,
                k=fields.get("k"),
            )
        except ImageRejected as exc:
            form.add_error("image", exc.message)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
    status = 400 if form.errors else 200
    context = {"form": form, "result": result, "example": example, "has_galleries": bool(choices)}
    return render(request, "search/page.html", context, status=status)
