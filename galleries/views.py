"""Web pages for galleries and images. Same selectors and services as the API."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from cbir_site.errors import (
    ApplicationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
)
from cbir_site.filtering import filtered
from cbir_site.pagination import PastEnd, page_of
from cbir_site.throttling import throttled
from galleries import selectors, services
from galleries.filters import ImageFilter
from galleries.forms import GalleryForm
from galleries.models import Membership

IMAGES_PER_PAGE = 48


def domain_errors(view):  # type: ignore[no-untyped-def]
    """Map domain errors to Django's 404/403 for HTML views."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return view(request, *args, **kwargs)
        except NotFoundError as exc:
            raise Http404(exc.message) from exc
        except PermissionDeniedError as exc:
            raise PermissionDenied(exc.message) from exc

    return wrapper


@require_http_methods(["GET", "POST"])
def gallery_list(request: HttpRequest) -> HttpResponse:
    form = GalleryForm(user=request.user, data=request.POST or None)
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect("login")
        if form.is_valid():
            try:
                gallery = services.gallery_create(
                    user=request.user, hide_taken_slugs=True, **form.cleaned_data
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"Gallery “{gallery.name}” created.")
                return redirect("galleries:detail", slug=gallery.slug)
    galleries = (
        selectors.galleries_visible_to(request.user)
        .select_related("organisation")
        .annotate(image_count=Count("images"))
        .order_by("name")
    )
    roles = {}
    if request.user.is_authenticated:
        roles = dict(Membership.objects.filter(user=request.user).values_list("gallery_id", "role"))
    rows = [(g, roles.get(g.pk)) for g in galleries]
    return render(request, "galleries/list.html", {"rows": rows, "form": form})


@domain_errors
def gallery_detail(request: HttpRequest, slug: str) -> HttpResponse:
    gallery = selectors.gallery_get_visible(request.user, slug=slug)
    role = selectors.gallery_role_for(request.user, gallery)
    images = filtered(ImageFilter(request.GET, queryset=gallery.images.all()), strict=False)
    page = page_of(images, request.GET.get("page"), IMAGES_PER_PAGE, past_end=PastEnd.LAST)
    context = {
        "gallery": gallery,
        "role": role,
        "can_edit": role in (Membership.Role.OWNER, Membership.Role.EDITOR),
        "can_manage": role == Membership.Role.OWNER,
        "page": page,
        "status_filter": request.GET.get("status", ""),
        "members": gallery.memberships.select_related("user") if role else [],
        "max_upload_mb": services.image_limits().max_bytes // (1024 * 1024),
        "allowed_formats": ", ".join(services.image_limits().allowed_formats),
    }
    return render(request, "galleries/detail.html", context)


@login_required
@require_POST
@throttled("upload")
@domain_errors
def gallery_upload(request: HttpRequest, slug: str) -> HttpResponse:
    """Form upload for browsers without JavaScript; the drop zone uses the API."""
    gallery = selectors.gallery_get_editable(request.user, slug=slug)
    files = request.FILES.getlist("files")
    if not files:
        messages.error(request, "Choose one or more image files to upload.")
    try:
        outcomes = services.images_upload(
            gallery=gallery, user=request.user, files=[(f, f.name) for f in files]
        )
    except RateLimitedError as exc:  # uploads in progress, or this minute's quota used up
        messages.error(request, exc.message)
        return redirect("galleries:detail", slug=gallery.slug)
    for outcome in outcomes:
        if outcome.status == "created":
            messages.success(request, f"{outcome.filename}: uploaded, indexing.")
        elif outcome.status == "duplicate":
            messages.warning(request, f"{outcome.filename}: {outcome.message}")
        else:
            messages.error(request, f"{outcome.filename}: {outcome.message}")
    return redirect("galleries:detail", slug=gallery.slug)


@domain_errors
def image_detail(request: HttpRequest, image_id: int) -> HttpResponse:
    image = selectors.image_get_visible(request.user, image_id=image_id)
    role = selectors.gallery_role_for(request.user, image.gallery)
    return render(
        request,
        "galleries/image.html",
        {
            "image": image,
            "can_edit": role in (Membership.Role.OWNER, Membership.Role.EDITOR),
            "back": _back_url(request),
        },
    )


def _back_url(request: HttpRequest) -> str:
    """The results page the image was opened from (?back=), if it is a path on this site."""
    back = request.GET.get("back", "")
    safe = url_has_allowed_host_and_scheme(back, allowed_hosts=None)
    return back if back.startswith("/") and not back.startswith("//") and safe else ""


@login_required
@require_POST
@domain_errors
def image_delete(request: HttpRequest, image_id: int) -> HttpResponse:
    image = selectors.image_get_editable(request.user, image_id=image_id)
    slug = image.gallery.slug
    services.image_delete(image=image)
    messages.success(request, f"Deleted {image.original_filename or 'the image'}.")
    return redirect("galleries:detail", slug=slug)
