"""Error responses and the DEBUG decision.

JSON under /api/ whatever went wrong (and whatever DEBUG says), plain pages
elsewhere; DEBUG only ever on a server that listens on loopback.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.test import Client, RequestFactory, override_settings
from rest_framework.throttling import SimpleRateThrottle

from cbir_site import binding, error_views
from cbir_site.management.commands import cbir_serve

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
BIG_JSON = json.dumps({"text": "x" * (3 * 1024 * 1024)})  # 3 MB, over Django's 2.5 MB


def client() -> Client:
    return Client(raise_request_exception=False)


def assert_json_error(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = json.loads(response.content)
    assert body["code"] == code and body["detail"], body
    return body


def assert_no_debug_page(response) -> None:  # type: ignore[no-untyped-def]
    text = response.content.decode()
    for leak in ("URLconf", "token-obtain", "Traceback", "<html", "DEBUG = True"):
        assert leak not in text, leak


# ---------------------------------------------------------------- /api/: JSON for every status


def test_a_json_body_over_the_memory_limit_is_a_json_413(cast, client_for):
    response = client_for(cast.viewer).post(
        "/api/v1/search/", BIG_JSON, content_type="application/json"
    )
    body = assert_json_error(response, 413, "too_large")
    assert "multipart" in body["detail"]


def test_a_form_body_over_the_memory_limit_is_a_plain_413_page(cast):
    browser = client()
    browser.force_login(cast.viewer)
    response = browser.post("/search/", {"q": "x" * (3 * 1024 * 1024)})
    assert response.status_code == 413 and response["Content-Type"].startswith("text/html")
    assert b"Bad request" in response.content and b"multipart" in response.content


@pytest.mark.parametrize("debug", [False, True])
def test_an_unknown_api_address_is_a_json_404_without_the_url_list(db, debug):
    with override_settings(DEBUG=debug):
        response = client().get("/api/v1/no-such-thing/")
    assert_json_error(response, 404, "not_found")
    assert_no_debug_page(response)


def test_a_wrong_method_is_a_json_405_with_allow(db):
    response = client().get("/api/v1/search/")
    assert_json_error(response, 405, "method_not_allowed")
    assert "POST" in response["Allow"]


@pytest.fixture
def tight(monkeypatch):  # type: ignore[no-untyped-def]
    cache.clear()
    rates = {"search": "1/min", "anon": "1000/min", "user": "1000/min", "login": "1000/min"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
    yield
    cache.clear()


def test_a_throttled_call_is_a_json_429_with_retry_after(db, client_for, tight):
    api = client_for(None)
    api.post("/api/v1/search/", {"text": "red"}, format="json")
    response = api.post("/api/v1/search/", {"text": "red"}, format="json")
    assert_json_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0


def test_a_throttled_page_is_a_plain_429_page(db, tight):
    browser = client()
    browser.get("/search/", {"q": "red"})
    response = browser.get("/search/", {"q": "red"})
    assert response.status_code == 429 and b"Too many requests" in response.content


@pytest.fixture
def crashing(monkeypatch):  # type: ignore[no-untyped-def]
    """The encoder status endpoint and the search page fail with an unexpected error."""

    def boom(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr("search.apis.encoder_status", boom)
    monkeypatch.setattr("feedback.search_views.search_images", boom)


@pytest.mark.parametrize("debug", [False, True])
def test_a_crash_under_api_is_a_json_500_without_a_traceback(db, crashing, debug):
    with override_settings(DEBUG=debug):
        response = client().get("/api/v1/encoder/")
    assert_json_error(response, 500, "server_error")
    assert_no_debug_page(response)
    assert b"secret internal detail" not in response.content


def test_a_crash_on_a_page_is_the_plain_500_page(db, crashing):
    response = client().get("/search/", {"q": "red", "mode": "topk"})
    assert response.status_code == 500 and b"Something went wrong" in response.content
    assert b"secret internal detail" not in response.content


def test_the_500_page_needs_neither_the_database_nor_a_request_context(django_db_blocker):
    request = RequestFactory().get("/galleries/")
    with django_db_blocker.block():
        response = error_views.server_error(request)
    assert response.status_code == 500 and b"Something went wrong" in response.content


@pytest.mark.parametrize("debug", [False, True])
def test_an_unknown_host_is_a_json_400_under_api(db, debug):
    with override_settings(DEBUG=debug):
        response = client().get("/api/v1/encoder/", HTTP_HOST="evil.example")
    assert_json_error(response, 400, "bad_request")
    assert_no_debug_page(response)


def test_an_unknown_host_is_a_plain_400_page_elsewhere(db):
    response = client().get("/search/", HTTP_HOST="evil.example")
    assert response.status_code == 400 and b"Bad request" in response.content


def test_403_is_json_under_api_and_a_page_elsewhere(cast):
    factory = RequestFactory()
    api = error_views.permission_denied(factory.get("/api/v1/galleries/x/"), PermissionDenied())
    assert_json_error(api, 403, "permission_denied")
    page = error_views.permission_denied(factory.get("/galleries/x/"), PermissionDenied("No."))
    assert page.status_code == 403 and b"Not allowed" in page.content


def test_an_unknown_page_is_the_plain_404_page(db):
    response = client().get("/no-such-page/")
    assert response.status_code == 404 and b"Not found" in response.content
    assert b"URLconf" not in response.content and b"token-obtain" not in response.content


def test_validation_and_drf_errors_carry_detail_and_code(cast, client_for):
    invalid = client_for(None).post("/api/v1/search/", {"k": "many"}, format="json")
    body = assert_json_error(invalid, 400, "invalid")
    assert body["detail"].startswith("k: ") and body["k"]  # the per-field lists stay
    unauthenticated = client_for(None).get("/api/v1/search/sessions/")
    assert unauthenticated.json()["code"] in ("not_authenticated", "authentication_failed")


# ---------------------------------------------------------------- DEBUG and the bind address


@pytest.mark.parametrize(
    "bind",
    ["127.0.0.1:8000", "127.5.6.7:80", "localhost:8000", "[::1]:8000", "::1", "LOCALHOST"],
)
def test_loopback_binds_may_run_debug(bind):
    assert binding.bind_is_loopback(bind)


@pytest.mark.parametrize(
    "bind",
    [
        "0.0.0.0:8000",
        "[::]:8000",
        ":8000",
        "192.168.1.5:8000",
        "example.org:80",
        "unix:/run/cbir.sock",
        "127.0.0.1:8000,0.0.0.0:8001",
        "",
    ],
)
def test_other_binds_never_run_debug(bind):
    assert not binding.bind_is_loopback(bind)
    env, note = binding.debug_environment(bind, {"DJANGO_DEBUG": "1", "PATH": "/bin"})
    assert env["DJANGO_DEBUG"] == "0" and env["CBIR_BIND"] == bind and env["PATH"] == "/bin"
    assert note and "DEBUG is off" in note


def test_a_loopback_bind_leaves_the_environment_alone():
    env, note = binding.debug_environment("127.0.0.1:8000", {"DJANGO_DEBUG": "1"})
    assert env == {"DJANGO_DEBUG": "1", "CBIR_BIND": "127.0.0.1:8000"} and note is None


def test_allowed_hosts_follow_the_bind_address():
    assert binding.allowed_hosts_for("127.0.0.1:8000") == []
    assert binding.allowed_hosts_for("192.168.1.5:8000") == ["192.168.1.5"]
    assert binding.allowed_hosts_for("[fd00::5]:8000") == ["[fd00::5]"]
    assert binding.allowed_hosts_for("0.0.0.0:8000") == ["*"]


class _FakeChild:
    started: list[dict[str, str]] = []

    def __init__(self, args, env):  # type: ignore[no-untyped-def]
        self.args = args
        _FakeChild.started.append(env)


@pytest.mark.parametrize("bind, debug", [("0.0.0.0:8000", "0"), ("127.0.0.1:8000", "1")])
def test_cbir_serve_passes_debug_off_to_children_beyond_loopback(monkeypatch, bind, debug):
    _FakeChild.started = []
    monkeypatch.setenv("DJANGO_DEBUG", "1")
    monkeypatch.setattr(cbir_serve, "call_command", lambda *a, **k: None)  # no migrate, no demo
    monkeypatch.setattr(cbir_serve.subprocess, "Popen", _FakeChild)
    monkeypatch.setattr(cbir_serve.Command, "_supervise", lambda self, children: None)
    out = io.StringIO()
    call_command("cbir_serve", bind=bind, no_demo=True, stdout=out)
    assert len(_FakeChild.started) == 2  # the worker and the web server
    for env in _FakeChild.started:
        assert env["DJANGO_DEBUG"] == debug and env["CBIR_BIND"] == bind
    assert ("DEBUG is off" in out.getvalue()) == (debug == "0")


def test_settings_turn_debug_off_beyond_loopback_and_still_serve_pages_and_static(tmp_path):
    """A development server on 0.0.0.0 with DJANGO_DEBUG=1: DEBUG off, any host, static files."""
    script = (
        "import django, json; django.setup()\n"
        "from django.conf import settings\n"
        "from django.test import Client\n"
        "c = Client(HTTP_HOST='192.0.2.10:8000')\n"
        "print(json.dumps({'debug': settings.DEBUG, 'hosts': settings.ALLOWED_HOSTS,\n"
        "  'page': c.get('/accounts/login/').status_code,\n"
        "  'css': c.get('/static/cbir/cbir.css').status_code,\n"
        "  'admin_css': c.get('/static/admin/css/base.css').status_code,\n"
        "  'api_404': c.get('/api/v1/nope/').json()}))\n"
    )
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CBIR_", "DJANGO_", "DATABASE_URL", "REDIS_URL"))
    }
    env = {
        **clean,
        "DJANGO_SETTINGS_MODULE": "cbir_site.settings",
        "CBIR_BIND": "0.0.0.0:8000",
        "DJANGO_DEBUG": "1",
        "CBIR_DATA_DIR": str(tmp_path),
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["debug"] is False and "*" in seen["hosts"]
    assert seen["page"] == 200 and seen["css"] == 200 and seen["admin_css"] == 200
    assert seen["api_404"]["code"] == "not_found"
