"""Each web process spools large request bodies into a folder of its own; a process that
starts removes the folders of this host's processes that have exited (killed mid-upload)."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.files import uploadedfile
from django.urls import reverse

from cbir_site.upload_spool import claim
from tests.factories import png_bytes


def _exited_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _zombie_pid() -> tuple[subprocess.Popen, int]:  # type: ignore[type-arg]
    """A child killed and not reaped yet, as a killed web worker is until its parent waits."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    child.kill()
    stat = Path(f"/proc/{child.pid}/stat")
    deadline = time.monotonic() + 10
    while stat.read_text().rpartition(")")[2].split()[0] != "Z":
        assert time.monotonic() < deadline, "the child never became a zombie"
        time.sleep(0.01)
    return child, child.pid


def test_claim_removes_dead_processes_folders_only(tmp_path, settings):
    settings.FILE_UPLOAD_TEMP_DIR = None  # restored after the test, with claim()'s change
    host = socket.gethostname()
    dead = tmp_path / f"{host}-{_exited_pid()}"
    child, zombie_pid = _zombie_pid()
    zombie = tmp_path / f"{host}-{zombie_pid}"
    alive = tmp_path / f"{host}-{os.getppid()}"
    elsewhere = tmp_path / f"another-host-{_exited_pid()}"
    for folder in (dead, zombie, alive, elsewhere):
        folder.mkdir()
        (folder / "body.upload").write_bytes(b"half a request")

    mine = claim(tmp_path)
    child.wait()

    assert mine == tmp_path / f"{host}-{os.getpid()}" and mine.is_dir()
    assert str(mine) == settings.FILE_UPLOAD_TEMP_DIR
    assert not dead.exists() and not zombie.exists()
    assert (alive / "body.upload").exists() and (elsewhere / "body.upload").exists()


def test_a_folder_left_under_this_pid_by_an_earlier_incarnation_is_emptied(tmp_path, settings):
    settings.FILE_UPLOAD_TEMP_DIR = None
    previous = tmp_path / f"{socket.gethostname()}-{os.getpid()}"  # a restarted container
    previous.mkdir()
    (previous / "body.upload").write_bytes(b"half a request of the last incarnation")
    mine = claim(tmp_path)
    assert mine == previous and mine.is_dir() and list(mine.iterdir()) == []


@pytest.mark.django_db
def test_a_spooled_upload_goes_through_the_claimed_folder_and_leaves_nothing(
    tmp_path, settings, cast, client_for, monkeypatch
):
    settings.FILE_UPLOAD_TEMP_DIR = None  # restored after the test, with claim()'s change
    mine = claim(tmp_path)
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1  # every uploaded file spools to disk
    spooled: list[Path] = []
    create = uploadedfile.TemporaryUploadedFile.__init__

    def record(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        create(self, *args, **kwargs)
        spooled.append(Path(self.temporary_file_path()))

    monkeypatch.setattr(uploadedfile.TemporaryUploadedFile, "__init__", record)
    data = io.BytesIO(png_bytes((10, 200, 40)))
    data.name = "spooled.png"
    response = client_for(cast.editor).post(
        reverse("api:gallery-images", args=[cast.gallery.slug]),
        {"files": [data]},
        format="multipart",
    )

    assert response.status_code == 201, response.content
    assert [p.parent for p in spooled] == [mine]
    assert list(mine.iterdir()) == []  # deleted when the request ended
