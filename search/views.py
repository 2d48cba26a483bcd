"""The thumbnail of an example image kept for the browser session that uploaded it."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from galleries.config import galleries_config
from galleries.imaging import ImageRejected, make_thumbnail
from search.example_store import example_load


@require_GET
@cache_control(private=True, max_age=600)
def example_thumbnail(request: HttpRequest, token: str) -> HttpResponse:
    """The thumbnail of a kept upload, for the browser session that sent it only."""
    data = example_load(session=request.session, token=token)
    if data is None:
        raise Http404("No such example image.")
    try:
        jpeg = make_thumbnail(data, galleries_config().thumbnail_size)
    except ImageRejected as exc:
        raise Http404("The example image cannot be shown.") from exc
    response = HttpResponse(jpeg, content_type="image/jpeg")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
