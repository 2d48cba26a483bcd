"""The admin says which provider is on and whether query text leaves the machine."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PAGE = "/admin/assistant/assistrequest/"


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_a_loopback_server_keeps_the_text_here(admin_client, assistant_on):
    page = admin_client.get(PAGE).content.decode()
    assert "Query assistant: openai (test-model); query text stays on this machine." in page


def test_a_remote_server_is_named_as_outside(admin_client, settings):
    settings.CBIR_ASSISTANT = "openai"
    settings.CBIR_LLM_URL = "https://llm.example.org/v1"
    settings.CBIR_LLM_MODEL = "big-model"
    page = admin_client.get(PAGE).content.decode()
    assert "query text is sent to https://llm.example.org/v1, outside this machine" in page


def test_off_and_bundled_say_so(admin_client, settings):
    settings.CBIR_ASSISTANT = "off"
    assert "Query assistant: off" in admin_client.get(PAGE).content.decode()
    settings.CBIR_ASSISTANT = "bundled"
    page = admin_client.get(PAGE).content.decode()
    assert "bundled (SmolLM2-135M-Instruct-Q4_1); query text stays on this machine" in page


def test_requests_are_read_only_in_the_admin(admin_client):
    assert admin_client.get(PAGE + "add/").status_code == 403
