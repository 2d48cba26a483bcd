"""python -m cbir_site.probe: the web container's health check."""

from __future__ import annotations

import pytest

from cbir_site import probe
from tests.services import free_port


@pytest.mark.parametrize(
    "allowed, host",
    [
        ("cbir.example.org,localhost", "cbir.example.org"),
        (" .example.org", "example.org"),
        ("*", "localhost"),
        ("", "localhost"),
    ],
)
def test_the_probe_names_a_host_django_accepts(allowed, host):
    assert probe.probe_host(allowed) == host


def test_a_server_listening_everywhere_is_asked_over_loopback():
    assert probe.probe_url("0.0.0.0:8000", "/healthz") == "http://127.0.0.1:8000/healthz"
    assert probe.probe_url("[::]:8000", "/healthz") == "http://127.0.0.1:8000/healthz"
    assert probe.probe_url("10.0.0.5:9000", "/healthz") == "http://10.0.0.5:9000/healthz"


def test_the_probe_passes_on_a_healthy_server_and_fails_otherwise(live_server, monkeypatch):
    monkeypatch.setenv("CBIR_BIND", live_server.url.removeprefix("http://"))
    monkeypatch.setenv("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")
    assert probe.main([]) == 0
    assert probe.main(["/no-such-page"]) == 1
    monkeypatch.setenv("DJANGO_ALLOWED_HOSTS", "elsewhere.example")  # Django answers 400
    assert probe.main([]) == 1
    monkeypatch.setenv("CBIR_BIND", f"127.0.0.1:{free_port()}")  # nothing listens there
    assert probe.main([]) == 1
