"""Multipart uploads through the REST API: per-file outcomes, nothing half-written,
server-generated storage names, embedding queued on the real broker after commit."""

from __future__ import annotations

import base64
import io
import json
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image as PILImage

from galleries import services
from galleries.config import galleries_config
from galleries.models import Image
from tests.factories import jpeg_bytes, png_bytes, upload

pytestmark = pytest.mark.django_db

QUEUE = django_settings.CBIR_EMBED_QUEUE
EMBED_TASK = "indexing.tasks.embed_images"


def named(data: bytes, name: str) -> io.BytesIO:
    handle = io.BytesIO(data)
    handle.name = name
    return handle


def media_files() -> set[str]:
    root = Path(django_settings.MEDIA_ROOT)
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def noise_png(size=(64, 64), seed: int = 0) -> bytes:  # type: ignore[no-untyped-def]
    pixels = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A well-formed PNG header that promises 10^10 pixels, with almost no data behind it."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def nothing_queued(broker) -> bool:  # type: ignore[no-untyped-def]
    return all(broker.llen(queue) == 0 for queue in django_settings.CBIR_WORKER_QUEUES)


def queued_messages(broker) -> list[dict]:  # type: ignore[no-untyped-def]
    """The Celery messages waiting in the queue, oldest first, with their decoded args."""
    messages = []
    for raw in reversed(broker.lrange(QUEUE, 0, -1)):  # kombu LPUSHes: the tail is the oldest
        envelope = json.loads(raw)
        body = envelope["body"]
        if envelope["properties"].get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args, kwargs, _ = json.loads(body)
        messages.append({"task": envelope["headers"]["task"], "args": args, "kwargs": kwargs})
    return messages


@pytest.fixture
def post_files(cast, client_for):  # type: ignore[no-untyped-def]
    """POST files to the private gallery's upload endpoint as its editor."""

    def post(*files: io.BytesIO, user=None):  # type: ignore[no-untyped-def]
        client = client_for(user or cast.editor)
        return client.post(
            reverse("api:gallery-images", args=[cast.gallery.slug]),
            {"files": list(files)},
            format="multipart",
        )

    return post


# ---------------------------------------------------------------- one file


def test_one_valid_file_creates_an_image_with_stored_file_and_thumbnail(cast, post_files):
    data = png_bytes((30, 160, 90), size=(640, 480))
    response = post_files(named(data, "garden.png"))

    assert response.status_code == 201
    [result] = response.data["results"]
    assert (result["filename"], result["status"], result["code"]) == ("garden.png", "created", "")
    image = Image.objects.get(pk=result["image"]["id"])
    assert image.gallery == cast.gallery
    assert image.uploaded_by == cast.editor
    assert (image.width, image.height, image.format) == (640, 480, "PNG")
    assert image.status == Image.Status.PENDING
    with default_storage.open(image.file.name, "rb") as fh:
        assert fh.read() == data
    with default_storage.open(image.thumbnail.name, "rb") as fh:
        thumb = PILImage.open(io.BytesIO(fh.read()))
        assert thumb.format == "JPEG"
        assert max(thumb.size) == galleries_config().thumbnail_size


def test_uploaded_file_is_served_back_unchanged(cast, post_files, client_for):
    data = png_bytes((1, 2, 3))
    image_id = post_files(named(data, "a.png")).data["results"][0]["image"]["id"]
    response = client_for(cast.viewer).get(reverse("api:image-file", args=[image_id]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == data


# ---------------------------------------------------------------- many files, each on its own


def test_mixed_batch_reports_each_file_and_stores_only_the_valid_one(cast, post_files, settings):
    settings.CBIR_MAX_UPLOAD_BYTES = 4096
    existing = upload(cast.gallery, png_bytes((9, 9, 9)), name="old.png")
    truncated = jpeg_bytes(size=(256, 256))
    oversize = noise_png()
    assert len(oversize) > 4096 and len(truncated) // 2 < 4096
    rows_before, files_before = Image.objects.count(), media_files()

    response = post_files(
        named(png_bytes((200, 10, 10)), "valid.png"),
        named(png_bytes((9, 9, 9)), "again.png"),
        named(b"", "empty.png"),
        named(b"just some words\n", "notes.txt"),
        named(truncated[: len(truncated) // 2], "cut.jpg"),
        named(oversize, "huge.png"),
        named(bomb_png(), "bomb.png"),
    )

    assert response.status_code == 201
    results = response.data["results"]
    outcomes = [(r["filename"], r["status"], r["code"]) for r in results]
    assert outcomes == [
        ("valid.png", "created", ""),
        ("again.png", "duplicate", "duplicate"),
        ("empty.png", "rejected", "empty"),
        ("notes.txt", "rejected", "unsupported_format"),
        ("cut.jpg", "rejected", "corrupt"),
        ("huge.png", "rejected", "too_large"),
        ("bomb.png", "rejected", "too_many_pixels"),
    ]
    assert all(r["message"] for r in results[1:])
    assert all(r["image"] is None for r in results[2:])
    assert results[1]["image"]["id"] == existing.pk
    assert str(existing.pk) in results[1]["message"]

    created = Image.objects.get(pk=results[0]["image"]["id"])
    assert Image.objects.count() == rows_before + 1
    assert media_files() - files_before == {created.file.name, created.thumbnail.name}


def test_all_rejected_is_a_bad_request_that_writes_nothing(cast, post_files):
    rows_before, files_before = Image.objects.count(), media_files()
    response = post_files(
        named(b"", "empty.png"), named(b"%PDF-1.7", "doc.pdf"), named(bomb_png(), "b.png")
    )

    assert response.status_code == 400
    assert [r["status"] for r in response.data["results"]] == ["rejected"] * 3
    assert Image.objects.count() == rows_before
    assert media_files() == files_before


def test_only_duplicates_is_not_an_error(cast, post_files):
    existing = upload(cast.gallery, png_bytes((5, 6, 7)))
    response = post_files(named(png_bytes((5, 6, 7)), "copy.png"))
    assert response.status_code == 201
    assert response.data["results"][0]["status"] == "duplicate"
    assert response.data["results"][0]["image"]["id"] == existing.pk
    assert cast.gallery.images.count() == 1


def test_same_bytes_twice_in_one_batch_are_stored_once(cast, post_files):
    data = png_bytes((40, 50, 60))
    response = post_files(named(data, "one.png"), named(data, "two.png"))
    assert [r["status"] for r in response.data["results"]] == ["created", "duplicate"]
    assert cast.gallery.images.count() == 1


def test_upload_without_files_is_a_bad_request_with_a_message(cast, client_for):
    response = client_for(cast.editor).post(
        reverse("api:gallery-images", args=["private"]), {"note": "nothing"}, format="multipart"
    )
    assert response.status_code == 400
    assert "files" in response.data["detail"]
    assert not cast.gallery.images.exists()


# ---------------------------------------------------------------- storage names


def _raw_multipart(filename: str, data: bytes) -> tuple[bytes, str]:
    """Build the body by hand: the test client would strip the path from the name itself."""
    boundary = "----cbir-test-boundary"
    body = (
        (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="files"; filename="{filename}"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


STORED_NAME = re.compile(r"^images/(?P<gallery>\d+)/[0-9a-f]{32}(\.png|\.thumb\.jpg)$")


@pytest.mark.parametrize(
    "client_name", ["../../etc/passwd.png", "..\\..\\evil.png", "/abs/root.png"]
)
def test_client_path_never_reaches_storage(cast, client_for, client_name):
    body, content_type = _raw_multipart(client_name, png_bytes((77, 88, 99)))
    files_before = media_files()
    response = client_for(cast.editor).generic(
        "POST", reverse("api:gallery-images", args=["private"]), body, content_type
    )

    assert response.status_code == 201, response.data
    image = Image.objects.get(pk=response.data["results"][0]["image"]["id"])
    for stored in (image.file.name, image.thumbnail.name):
        match = STORED_NAME.match(stored)
        assert match and match["gallery"] == str(cast.gallery.pk), stored
    assert media_files() - files_before == {image.file.name, image.thumbnail.name}
    media = Path(django_settings.MEDIA_ROOT).resolve()
    assert Path(image.file.path).resolve().is_relative_to(media)
    assert "/" not in image.original_filename and "\\" not in image.original_filename
    assert not (media.parent.parent / "etc" / "passwd.png").exists()


def test_upload_service_ignores_a_path_in_the_filename(cast):
    """The service is the last line: even a caller that passes a raw path gets a generated name."""
    outcome = services.image_upload(
        gallery=cast.gallery,
        user=cast.owner,
        stream=io.BytesIO(png_bytes((1, 1, 1))),
        filename="../../../../tmp/owned.png",
        enqueue=False,
    )
    assert outcome.status == "created"
    assert STORED_NAME.match(outcome.image.file.name)
    assert outcome.image.original_filename == "owned.png"
    media = Path(django_settings.MEDIA_ROOT).resolve()
    assert Path(outcome.image.file.path).resolve().is_relative_to(media)


# ---------------------------------------------------------------- embedding queued after commit


def test_upload_queues_embedding_only_after_commit(
    cast, post_files, broker, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post_files(named(png_bytes((10, 20, 30)), "a.png"))
    assert response.status_code == 201
    assert nothing_queued(broker)  # the transaction has not committed yet

    for callback in callbacks:
        callback()
    image_id = response.data["results"][0]["image"]["id"]
    assert queued_messages(broker) == [{"task": EMBED_TASK, "args": [[image_id]], "kwargs": {}}]


def test_upload_queues_one_message_per_embedding_batch(
    cast, post_files, broker, settings, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    settings.CBIR_EMBED_BATCH_SIZE = 2
    files = [named(png_bytes((10 * i, 0, 0)), f"{i}.png") for i in range(5)]
    with django_capture_on_commit_callbacks(execute=True):
        response = post_files(*files, named(b"", "empty.png"))

    created = [r["image"]["id"] for r in response.data["results"] if r["status"] == "created"]
    assert len(created) == 5
    messages = queued_messages(broker)
    assert [m["task"] for m in messages] == [EMBED_TASK] * 3
    assert [m["args"][0] for m in messages] == [created[0:2], created[2:4], created[4:5]]


def test_rejected_upload_queues_nothing(
    cast, post_files, broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_files(named(b"", "empty.png"))
    assert response.status_code == 400
    assert nothing_queued(broker)


def test_a_crash_between_file_and_row_leaves_nothing_after_the_janitor(cast, settings):
    """A process killed after writing the file but before committing its row."""
    from datetime import timedelta

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.utils import timezone

    from galleries.models import PendingUpload
    from galleries.services import uploads_abandoned_cleanup
    from tests.factories import upload

    kept = upload(cast.gallery, png_bytes((1, 2, 3)))  # a finished upload: untouched
    assert not PendingUpload.objects.exists()  # finished uploads leave no intent behind
    path = f"images/{cast.gallery.pk}/crashed.png"
    PendingUpload.objects.create(path=path)
    default_storage.save(path, ContentFile(png_bytes()))
    assert uploads_abandoned_cleanup(older_than_s=3600) == []  # too young: maybe still running
    PendingUpload.objects.update(created_at=timezone.now() - timedelta(hours=2))
    assert uploads_abandoned_cleanup(older_than_s=3600) == [path]
    assert not default_storage.exists(path) and not PendingUpload.objects.exists()
    assert default_storage.exists(kept.file.name)


def test_a_failed_row_insert_removes_the_files_and_the_intent(cast, monkeypatch):
    from django.core.files.storage import default_storage

    from galleries import services
    from galleries.models import PendingUpload

    written: list[str] = []
    real_save = default_storage.save

    def save(name, content, **kwargs):  # type: ignore[no-untyped-def]
        written.append(real_save(name, content, **kwargs))
        return written[-1]

    def broken_create(**kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("database went away")

    monkeypatch.setattr(default_storage, "save", save)
    monkeypatch.setattr(Image.objects, "create", broken_create)
    with pytest.raises(RuntimeError):
        services.image_upload(
            gallery=cast.gallery, user=cast.editor, stream=io.BytesIO(png_bytes()), filename="x.png"
        )
    assert len(written) == 2 and not any(default_storage.exists(p) for p in written)
    assert not PendingUpload.objects.exists()
