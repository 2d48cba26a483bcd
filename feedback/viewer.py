"""What the result viewer (static/cbir/viewer.js) shows of each result, read once per page.

Rendered into the page as JSON (json_script), so opening the viewer costs no
request: the full image and download links (both permission-checked by the
file endpoint), the manager captions and every gallery the user may see that
holds the same file.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.urls import reverse

from feedback.expansion_selectors import captions_by_image
from galleries import selectors
from galleries.models import Image


def viewer_items(
    user: AbstractBaseUser | AnonymousUser, images: Iterable[Image]
) -> dict[str, dict[str, object]]:
    images = list(images)
    ids = [i.pk for i in images]
    captions = captions_by_image(ids)
    copies: dict[str, list[tuple[str, str]]] = {}
    rows = (
        selectors.images_visible_to(user)
        .filter(sha256__in={i.sha256 for i in images if i.sha256})
        .order_by("gallery__name")
        .values_list("sha256", "gallery__name", "gallery__slug")
    )
    for sha, name, slug in rows:
        held = copies.setdefault(sha, [])
        if (name, slug) not in held:
            held.append((name, slug))
    return {str(i.pk): _item(i, captions.get(i.pk, []), copies.get(i.sha256, [])) for i in images}


def _item(image: Image, captions: list[str], copies: list[tuple[str, str]]) -> dict[str, object]:
    file_url = reverse("api:image-file", args=[image.pk])
    galleries = copies or [(image.gallery.name, image.gallery.slug)]
    return {
        "name": image.original_filename or f"image {image.pk}",
        "file": file_url,
        "download": f"{file_url}?download=1",
        "detail": reverse("galleries:image", args=[image.pk]),
        "width": image.width,
        "height": image.height,
        "captions": captions,
        "galleries": [
            {"name": name, "url": reverse("galleries:detail", args=[slug])}
            for name, slug in galleries
        ],
    }
