"""Production settings: refuse to start insecure, and pass Django's deployment checks."""

from __future__ import annotations

import secrets
import subprocess

import pytest

from tests.services import run_python

PRODUCTION = {
    "CBIR_ENV": "production",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "cbir.example.org",
    "DATABASE_URL": "postgres://cbir:secret@db.example.org:5432/cbir",
    "REDIS_URL": "redis://redis.example.org:6379/0",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return run_python(["manage.py", *args], env=env)


def test_production_passes_the_deployment_checks():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    "missing, message",
    [
        ("DJANGO_SECRET_KEY", "DJANGO_SECRET_KEY"),
        ("DJANGO_ALLOWED_HOSTS", "DJANGO_ALLOWED_HOSTS"),
        ("DATABASE_URL", "DATABASE_URL"),
        ("REDIS_URL", "REDIS_URL"),
    ],
)
def test_production_refuses_to_start_without_its_settings(missing, message):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    result = manage("check", **env)
    assert result.returncode != 0 and message in result.stderr


def test_a_weak_secret_key_is_refused():
    result = manage("check", **{**PRODUCTION, "DJANGO_SECRET_KEY": "changeme"})
    assert result.returncode != 0 and "too weak" in result.stderr


def test_a_typo_in_a_setting_fails_at_start_up():
    result = manage("check", CBIR_MAX_UPLOAD_BYTES="lots")
    assert result.returncode != 0 and "CBIR_MAX_UPLOAD_BYTES" in result.stderr


def test_a_queue_name_must_be_a_single_name():
    result = manage("check", CBIR_EMBED_QUEUE="embedding,maintenance")
    assert result.returncode != 0 and "CBIR_EMBED_QUEUE" in result.stderr


def test_security_headers_in_production_like_settings(client, settings):
    response = client.get("/accounts/login/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"


def test_the_demo_broker_connects_without_kombus_hostname_warning(tmp_path):
    """Without REDIS_URL the demo's broker is a folder; every command used to print a warning."""
    code = (
        "import django; django.setup()\n"
        "from cbir_site.celery import app\n"
        "app.send_task('cbir.settings_check', queue='settings-check')\n"  # what cbir_import does
        "print(app.connection_for_write().transport_cls)\n"
    )
    result = run_python(
        ["-c", code],
        env={"DJANGO_SETTINGS_MODULE": "cbir_site.settings", "CBIR_DATA_DIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert "filesystem" in result.stdout
    assert "No hostname was supplied" not in result.stderr
