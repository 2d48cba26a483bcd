"""manage.py cbir_import: folders and zip archives through the upload service."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command

from galleries.models import Gallery, Image
from tests.factories import jpeg_bytes, png_bytes

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    out, err = io.StringIO(), io.StringIO()
    call_command("cbir_import", *args, "--no-progress", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "red.png").write_bytes(png_bytes((255, 0, 0)))
    (tmp_path / "sub" / "blue.jpg").write_bytes(jpeg_bytes((0, 0, 255)))
    (tmp_path / "sub" / "again.png").write_bytes(png_bytes((255, 0, 0)))  # duplicate of red.png
    (tmp_path / "broken.jpg").write_bytes(jpeg_bytes()[:100])
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden.png").write_bytes(png_bytes((1, 1, 1)))
    return tmp_path


def test_folder_import_stores_images_and_reports_the_rest(
    cast, folder, broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        out, err = run("private", str(folder), "--user", "editor")
    assert "2 imported, 1 duplicates, 1 rejected, 1 skipped" in out
    assert "broken.jpg" in err
    names = set(cast.gallery.images.values_list("original_filename", flat=True))
    assert names == {"red.png", "blue.jpg"}  # display names: no client paths
    assert set(cast.gallery.images.values_list("uploaded_by__username", flat=True)) == {"editor"}
    assert broker.llen(django_settings.CBIR_EMBED_QUEUE) == 1  # both new images, one batch


def test_zip_import_reads_members_without_extracting(cast, tmp_path):
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a/green.png", png_bytes((0, 255, 0)))
        zf.writestr("../escape.png", png_bytes((0, 0, 9)))  # hostile name: display only
        zf.writestr("__MACOSX/._green.png", b"resource fork")
    out, _ = run("private", str(archive))
    assert "2 imported" in out
    stored = list(Image.objects.values_list("file", flat=True))
    assert all(name.startswith(f"images/{cast.gallery.pk}/") for name in stored)
    assert not (tmp_path.parent / "escape.png").exists()


def test_create_makes_a_gallery_owned_by_the_user(cast, folder):
    run("new-gallery", str(folder), "--user", "outsider", "--create")
    gallery = Gallery.objects.get(slug="new-gallery")
    assert gallery.memberships.get().user == cast.outsider
    assert gallery.images.count() == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope", "."], "No gallery 'nope'"),
        (["nope", ".", "--create"], "--create needs --user"),
        (["private", "/no/such/path"], "neither a folder nor a zip"),
        (["private", ".", "--user", "ghost"], "No user named 'ghost'"),
    ],
)
def test_bad_arguments_fail_with_a_clear_error(cast, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
