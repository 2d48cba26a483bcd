"""Fixtures of the query-assistant tests: a real chat-completions server, the assistant on."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from assistant import providers
from tests.assistant.llm_server import FakeLLM


@pytest.fixture
def llm():
    with FakeLLM() as server:
        yield server


@pytest.fixture
def assistant_on(settings, llm):
    """CBIR_ASSISTANT=openai pointed at the test's server; a clean suggestion cache."""
    settings.CBIR_ASSISTANT = "openai"
    settings.CBIR_LLM_URL = llm.url
    settings.CBIR_LLM_MODEL = "test-model"
    settings.CBIR_ASSIST_TIMEOUT_S = 2.0
    settings.CBIR_ASSIST_MAX_RETRIES = 0
    settings.CBIR_BACKGROUND_TASKS = False  # tests run the task's function themselves
    providers._cache.clear()
    cache.clear()
    yield llm
    providers._cache.clear()
