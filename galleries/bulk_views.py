"""The gallery page's bulk actions: download the selected images as a zip, delete them.

Deleting asks on a page of its own that shows what will go (no script, no
window.confirm); the owners and editors of the gallery may delete, anyone
who may see the gallery may download. Bulk actions share the upload rate:
they are file work of the same weight.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from cbir_site.bounds import parse_image_id
from cbir_site.errors import ApplicationError, NotFoundError
from cbir_site.throttling import throttled
from galleries import bulk, selectors
from galleries.views import domain_errors

ACTIONS = ("download", "delete", "delete-confirmed")


@require_POST
@throttled("upload")
@domain_errors
def gallery_bulk(request: HttpRequest, slug: str) -> HttpResponse:
    gallery = selectors.gallery_get_visible(request.user, slug=slug)
    action = request.POST.get("action", "")
    back = redirect("galleries:detail", slug=gallery.slug)
    if action not in ACTIONS:
        messages.error(request, "Choose Download or Delete.")
        return back
    if action != "download":
        # Same rule as deleting one image: owners and editors (403 for the others).
        gallery = selectors.gallery_get_editable(request.user, slug=slug)
    ids = [i for i in map(parse_image_id, request.POST.getlist("ids")) if i is not None]
    try:
        images = bulk.images_pick(gallery=gallery, image_ids=ids)
        if action == "download":
            archive = bulk.images_zip(images=images)
            name = f"{gallery.slug}-{len(images)}-image{'s' if len(images) != 1 else ''}.zip"
            return FileResponse(
                archive, as_attachment=True, filename=name, content_type="application/zip"
            )
    except NotFoundError as exc:
        messages.error(request, f"{exc.message} Reload the page and select again.")
        return back
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return back
    if action == "delete":
        return render(
            request, "galleries/bulk_confirm.html", {"gallery": gallery, "images": images}
        )
    if not request.user.is_authenticated:  # gallery_get_editable refuses them: never reached
        raise PermissionDenied
    count = bulk.images_delete(gallery=gallery, images=images)
    messages.success(request, f"Deleted {count} image{'s' if count != 1 else ''}.")
    return back
