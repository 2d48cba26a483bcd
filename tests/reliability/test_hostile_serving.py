"""Hostile files against a real gunicorn web server: every one answered quickly with its reason,
and the serving process's peak memory (VmHWM of the gunicorn worker) bounded.

A 148-byte 70000x1 PNG once took a web worker to 20 GB; here it and its kin go through HTTP
upload and search by example while the worker's peak resident memory is read from /proc.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile_images import real_size_cases
from tests.reliability.client import Api, multipart
from tests.reliability.processes import children_of

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(300)]

ACCEPTED = {
    "8900x8900 black PNG (79 MP, the largest legal canvas)",
    "12000x1000 JPEG panorama (12:1)",
    "JPEG with a broken EXIF block",
}
REQUEST_BOUND_S = 20.0  # the 79-megapixel canvas, decoded once, on a shared 2-vCPU machine
MEMORY_BOUND_MB = 1024  # 8900 x 8900 RGB is 238 MB decoded


def _peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for {pid}")


def _search_by_example(api: Api, name: str, data: bytes):  # type: ignore[no-untyped-def]
    body, content_type = multipart([("image", name, data)])
    return api.request("POST", "/api/v1/search/", body, content_type)


def test_hostile_files_are_refused_fast_and_the_web_worker_stays_small(stack, account):
    master = stack.services["web"].popen.pid
    (worker,) = children_of(master)
    api = Api("127.0.0.1", stack.web_port, account.token, timeout=60)
    assert api.search("warm-up").status == 200
    before = _peak_mb(worker)
    for name, data in real_size_cases(heavy=False):
        upload = api.upload(account.gallery, [(f"{name}.img", data)])
        assert upload.seconds < REQUEST_BOUND_S, (name, upload.seconds)
        (result,) = upload.body["results"]  # type: ignore[index]
        if name in ACCEPTED:
            assert upload.status == 201 and result["status"] == "created", (name, upload.body)
        else:
            assert upload.status == 400 and result["status"] == "rejected", (name, upload.body)
            assert result["code"] and result["message"], (name, result)
        example = _search_by_example(api, f"{name}.img", data)
        assert example.seconds < REQUEST_BOUND_S, (name, example.seconds)
        expected = 200 if name in ACCEPTED else 400
        assert example.status == expected and example.is_json, (name, example.status, example.body)
    growth = _peak_mb(worker) - before
    assert growth < MEMORY_BOUND_MB, f"the web worker's peak memory grew by {growth:.0f} MB"
