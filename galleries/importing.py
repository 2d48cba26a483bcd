"""Bulk import of a folder or a zip archive into a gallery, through the upload service."""

from __future__ import annotations

import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, BinaryIO

from django.contrib.auth.models import AbstractBaseUser

from cbir_site.config import site_config
from cbir_site.errors import InvalidInputError
from galleries.models import Gallery, Image
from galleries.services import UploadOutcome, image_upload
from galleries.signals import images_stored

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}


@dataclass
class ImportReport:
    counts: Counter = field(default_factory=Counter)
    rejected: list[UploadOutcome] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # not named like an image


@dataclass(frozen=True)
class Source:
    name: str
    size: int
    open: Callable[[], AbstractContextManager[BinaryIO]]


def import_sources(path: Path) -> list[Source]:
    """The image-like files under a folder (recursively) or inside a zip archive."""
    if path.is_dir():
        files = sorted(
            p for p in path.rglob("*") if p.is_file() and not _hidden(p.relative_to(path))
        )
        return [Source(str(p.relative_to(path)), p.stat().st_size, _opener(p)) for p in files]
    if path.is_file() and zipfile.is_zipfile(path):
        return _zip_sources(path)
    raise InvalidInputError(f"{path} is neither a folder nor a zip archive.")


def gallery_import(
    *,
    gallery: Gallery,
    user: AbstractBaseUser | None,
    sources: list[Source],
    on_progress: Callable[[UploadOutcome | None], None] = lambda outcome: None,
) -> ImportReport:
    report = ImportReport()
    batch: list[int] = []
    for source in sources:
        if Path(source.name).suffix.lower() not in IMAGE_SUFFIXES:
            report.skipped.append(source.name)
            on_progress(None)
            continue
        if source.size > site_config().max_upload_bytes:
            outcome = UploadOutcome(
                source.name,
                "rejected",
                code="too_large",
                message="The file is larger than the upload limit.",
            )
        else:
            with source.open() as stream:
                outcome = image_upload(
                    gallery=gallery, user=user, stream=stream, filename=source.name, enqueue=False
                )
        report.counts[outcome.status] += 1
        if outcome.status == "rejected":
            report.rejected.append(outcome)
        elif outcome.status == "created" and outcome.image is not None:
            batch.append(outcome.image.pk)
            if len(batch) >= site_config().embed_batch_size:
                images_stored.send(Image, image_ids=batch)
                batch = []
        on_progress(outcome)
    images_stored.send(Image, image_ids=batch)
    return report


def _hidden(relative: Path) -> bool:
    # Dot-files and macOS resource forks; ".." in a zip member name is not hidden (and is
    # harmless: members are read, never extracted).
    return any(
        (part.startswith(".") and part not in (".", "..")) or part == "__MACOSX"
        for part in relative.parts
    )


def _opener(path: Path) -> Callable:
    @contextmanager
    def open_file() -> Iterator[BinaryIO]:
        with path.open("rb") as fh:
            yield fh

    return open_file


def _zip_sources(path: Path) -> list[Source]:
    with zipfile.ZipFile(path) as archive:
        members = [
            m for m in archive.infolist() if not m.is_dir() and not _hidden(Path(m.filename))
        ]

    def opener(member: zipfile.ZipInfo) -> Callable:
        @contextmanager
        def open_member() -> Iterator[IO[bytes]]:
            # The declared size was checked; image_upload's read limit guards against a lie.
            with zipfile.ZipFile(path) as archive, archive.open(member) as fh:
                yield fh

        return open_member

    return [Source(m.filename, m.file_size, opener(m)) for m in members]
