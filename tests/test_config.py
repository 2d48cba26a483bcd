"""Typed configuration (cbir_site/config.py): environment, Django settings, caching, no writes."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from cbir_site.config import configs_clear, configs_snapshot, setting_of, site_config
from galleries.config import galleries_config
from search.config import search_config
from tests.services import run_python


@pytest.fixture
def fresh_configs():
    configs_clear()
    yield
    configs_clear()


def test_a_knob_comes_from_the_environment(monkeypatch, fresh_configs):
    monkeypatch.setenv("CBIR_SEARCH_DEFAULT_K", "7")
    configs_clear()
    assert search_config().default_k == 7


def test_a_django_setting_of_the_same_name_wins_and_is_forgotten_after(
    monkeypatch, settings, fresh_configs
):
    monkeypatch.setenv("CBIR_SEARCH_DEFAULT_K", "7")
    configs_clear()
    with override_settings(CBIR_SEARCH_DEFAULT_K=11):
        assert search_config().default_k == 11
    assert search_config().default_k == 7
    settings.CBIR_SEARCH_DEFAULT_K = 12  # pytest-django's fixture, as most tests do it
    assert search_config().default_k == 12


def test_override_settings_reaches_a_built_config(fresh_configs):
    before = galleries_config().thumbnail_size
    with override_settings(CBIR_THUMBNAIL_SIZE=before + 1):
        assert galleries_config().thumbnail_size == before + 1
    assert galleries_config().thumbnail_size == before


def test_configs_are_built_once_until_a_setting_changes(fresh_configs):
    assert search_config() is search_config()


def test_a_bad_value_names_its_variable(monkeypatch, fresh_configs):
    monkeypatch.setenv("CBIR_MAX_REQUEST_BYTES", "10")  # below the upload limit
    with pytest.raises(ImproperlyConfigured, match="CBIR_MAX_REQUEST_BYTES"):
        site_config()


def test_a_derived_default_follows_the_value_it_depends_on(settings):
    settings.CBIR_MAX_UPLOAD_BYTES = 2 * 1024**3
    assert site_config().max_request_bytes == 2 * 1024**3 + 1024**2


def test_settings_are_found_by_name_and_listed_for_reports():
    assert setting_of(search_config(), "CBIR_THRESHOLD_WEIGHT") == search_config().threshold_weight
    snapshot = configs_snapshot()
    assert snapshot["CBIR_ROCCHIO_ALPHA"] == pytest.approx(1.0)
    assert "CBIR_EXPLAIN_GRID" in snapshot and "CBIR_LLM_API_KEY" in snapshot


def test_importing_the_settings_and_starting_django_write_nothing(tmp_path):
    """The data folder stays empty until something needs it: the secret, the broker."""
    code = (
        "import os, django; django.setup()\n"
        "import cbir_site.urls\n"
        "from cbir_site.celery import app\n"
        "data = os.environ['CBIR_DATA_DIR']\n"
        "print('started', sorted(os.listdir(data)))\n"
        "from django.core import signing; signing.dumps('x')\n"
        "app.conf.broker_url\n"
        "print('used', sorted(os.listdir(data)), sorted(os.listdir(data + '/broker')))\n"
    )
    result = run_python(
        ["-c", code],
        env={"DJANGO_SETTINGS_MODULE": "cbir_site.settings", "CBIR_DATA_DIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert "started []" in result.stdout
    assert "used ['broker', 'development-secret-key'] ['control', 'queue']" in result.stdout
    assert (tmp_path / "development-secret-key").stat().st_mode & 0o077 == 0
