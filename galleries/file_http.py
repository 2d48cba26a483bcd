"""Stored images and thumbnails over HTTP: fixed types, validators and cache headers.

The caller (galleries/apis.py) has already asked the permission selector
whether the image may be seen: an invisible image is a 404 before anything
here runs, so a 304 never confirms that an image the caller may not see exists.

An image's bytes never change under its URL (a new upload is a new image id;
the SHA-256 is stored with the row), so the SHA-256 is a strong validator and
a revalidation costs one permission query, never a file read. What can change
is who may see the image: a public gallery can be made private, a member
removed. The freshness lifetimes below bound how long a cache may go on
serving an image after that:

- public galleries: `public, max-age=PUBLIC_MAX_AGE_S, immutable`. Shared
  caches (a proxy, a CDN) may serve these bytes to anyone until they expire,
  so the lifetime is short: an image made private stops being served from a
  shared cache within 10 minutes. `immutable` spares the browser a
  revalidation on reload while fresh: the bytes cannot change, only access.
- every other gallery: `private, max-age=PRIVATE_MAX_AGE_S`. Only the
  viewer's own browser may keep the bytes, and that viewer has already seen
  them; after the hour the browser revalidates and a revoked viewer gets 404.
"""

from __future__ import annotations

from urllib.parse import quote

from django.http import FileResponse, HttpRequest, HttpResponseNotModified
from django.http.response import HttpResponseBase
from django.utils.http import parse_etags

from cbir_site.errors import NotFoundError
from galleries.imaging import MIME_TYPES
from galleries.models import Gallery, Image

PUBLIC_MAX_AGE_S = 600
PRIVATE_MAX_AGE_S = 3600
THUMBNAIL_TYPE = "image/jpeg"  # galleries.imaging.make_thumbnail always writes JPEG


def etag_for(image: Image, field: str) -> str:
    """The strong validator of one stored representation: its source's SHA-256."""
    suffix = "-thumb" if field == "thumbnail" else ""
    return f'"{image.sha256}{suffix}"'


def cache_control_for(image: Image) -> str:
    if image.gallery.visibility == Gallery.Visibility.PUBLIC:
        return f"public, max-age={PUBLIC_MAX_AGE_S}, immutable"
    return f"private, max-age={PRIVATE_MAX_AGE_S}"


def image_file_response(request: HttpRequest, image: Image, field: str) -> HttpResponseBase:
    """A visible image's file or thumbnail, or 304 when the caller's copy is current.

    `image` must come from the permission selector (selectors.image_get_visible).
    """
    stored = getattr(image, field)
    if not stored:
        raise NotFoundError("This image has no stored file.")
    etag = etag_for(image, field) if image.sha256 else None
    if etag and _matches(request.headers.get("If-None-Match", ""), etag):
        response: HttpResponseBase = HttpResponseNotModified()
    else:
        response = _file(image, field, stored, download=_wants_download(request))
    if etag:
        response["ETag"] = etag
    response["Cache-Control"] = cache_control_for(image)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def _matches(if_none_match: str, etag: str) -> bool:
    # If-None-Match uses the weak comparison (RFC 9110 13.1.2): W/"x" matches "x".
    if not if_none_match.strip():
        return False
    tags = parse_etags(if_none_match)
    return "*" in tags or any(tag.removeprefix("W/") == etag for tag in tags)


def _wants_download(request: HttpRequest) -> bool:
    """?download=1: save the original file (the viewer's Download) instead of showing it."""
    return request.GET.get("download", "") in ("1", "true")


def _file(image: Image, field: str, stored, *, download: bool = False) -> FileResponse:  # type: ignore[no-untyped-def]
    """The bytes with a fixed, validated type: never sniffed, never a page."""
    mime = (
        THUMBNAIL_TYPE
        if field == "thumbnail"
        else MIME_TYPES.get(image.format, "application/octet-stream")
    )
    try:
        handle = stored.open("rb")
    except FileNotFoundError as exc:
        raise NotFoundError("The stored file is missing.") from exc
    response = FileResponse(handle, content_type=mime)
    if field == "file":
        filename = image.original_filename or f"image-{image.pk}"
        disposition = "attachment" if download else "inline"
        response["Content-Disposition"] = (
            f"{disposition}; filename*=UTF-8''{quote(filename, safe='')}"
        )
    return response
