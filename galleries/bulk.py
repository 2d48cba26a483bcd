"""Several images of one gallery at once: pick them, download them as a zip, delete them.

The caller checks the gallery (selectors.gallery_get_visible to download,
gallery_get_editable to delete); here every id must be an image of that gallery,
so ids of other galleries answer like ids that do not exist. A download is
bounded (CBIR_BULK_MAX_IMAGES files, CBIR_BULK_DOWNLOAD_MAX_BYTES of originals)
and refused whole, before any byte is written, when it would pass a bound.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import IO

from django.db import transaction
from django.template.defaultfilters import filesizeformat

from cbir_site.errors import InvalidInputError, NotFoundError, PayloadTooLargeError
from galleries.config import galleries_config
from galleries.models import Gallery, Image
from galleries.signals import images_removed


def images_pick(*, gallery: Gallery, image_ids: Sequence[int]) -> list[Image]:
    """The gallery's images with these ids, in the order given (each once)."""
    wanted = list(dict.fromkeys(int(i) for i in image_ids))
    if not wanted:
        raise InvalidInputError("Select at least one image.")
    limit = galleries_config().bulk_max_images
    if len(wanted) > limit:
        raise InvalidInputError(f"At most {limit} images at a time; {len(wanted)} were selected.")
    found = Image.objects.filter(gallery=gallery, pk__in=wanted).in_bulk()
    missing = [i for i in wanted if i not in found]
    if missing:
        shown = ", ".join(str(i) for i in missing[:5])
        raise NotFoundError(f"No image {shown} in this gallery.")
    return [found[i] for i in wanted]


def images_delete(*, gallery: Gallery, images: Sequence[Image]) -> int:
    """Delete the images (rows, embeddings, files) in one transaction; return how many."""
    from galleries.services import _delete_files

    ids = [i.pk for i in images]
    paths = [p for i in images for p in (i.file.name, i.thumbnail.name) if p]
    with transaction.atomic():
        images_removed.send(Image, image_ids=ids, gallery_ids=[gallery.pk])
        deleted, _ = Image.objects.filter(gallery=gallery, pk__in=ids).delete()
        transaction.on_commit(lambda: _delete_files(paths))
    return len(ids) if deleted else 0


def images_zip(*, images: Sequence[Image]) -> IO[bytes]:
    """A zip of the original files (stored, not recompressed: photos do not shrink).

    Returned rewound, in a temporary file that disappears when closed.
    """
    total = sum(i.byte_size for i in images)
    limit = galleries_config().bulk_download_max_bytes
    if total > limit:
        raise PayloadTooLargeError(
            f"The selection ({_images(len(images))}) is {filesizeformat(total)}; a download "
            f"holds at most {filesizeformat(limit)}. Select fewer.",
            code="download_too_large",
        )
    out = tempfile.TemporaryFile()  # noqa: SIM115 -- handed to the response, which closes it
    names: set[str] = set()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for image in images:
            name = _unique(_zip_name(image), names)
            with image.file.open("rb") as source, archive.open(name, "w") as target:
                while chunk := source.read(1024 * 1024):
                    target.write(chunk)
    out.seek(0)
    return out


def _images(count: int) -> str:
    return "1 image" if count == 1 else f"{count} images"


def _zip_name(image: Image) -> str:
    # The displayed name, never a path: archives must not write outside their folder.
    base = PurePosixPath((image.original_filename or "").replace("\\", "/")).name.strip(". ")
    if not base:
        extension = {"JPEG": "jpg", "TIFF": "tif"}.get(image.format, image.format.lower())
        base = f"image-{image.pk}.{extension}"
    return base


def _unique(name: str, taken: set[str]) -> str:
    """name, or "stem (2).ext", "stem (3).ext" ... when taken (case-insensitively)."""
    stem, dot, extension = name.rpartition(".")
    if not dot:
        stem, extension = name, ""
    candidate, n = name, 1
    while candidate.casefold() in taken:
        n += 1
        candidate = f"{stem} ({n}){dot}{extension}"
    taken.add(candidate.casefold())
    return candidate
