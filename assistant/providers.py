"""The provider registry: CBIR_ASSISTANT names a class; one instance per process, behind a lock.

A provider has `name`, `model_name`, `remote` (does the query text leave this
machine?) and `complete(prompt, max_tokens=...) -> Completion`, raising
ProviderError for anything it cannot answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from django.core.exceptions import ImproperlyConfigured

from assistant.config import AssistantConfig, assistant_config
from assistant.core import Completion, Prompt, ProviderError


class Provider(Protocol):
    name: str
    model_name: str

    @property
    def remote(self) -> bool: ...

    def complete(self, prompt: Prompt, *, max_tokens: int) -> Completion: ...


def _off(config: AssistantConfig) -> Provider:
    raise ProviderError("The query assistant is off (CBIR_ASSISTANT=off).")


def _openai(config: AssistantConfig) -> Provider:
    from assistant.openai_provider import OpenAIProvider

    return OpenAIProvider(
        url=config.llm_url,
        model=config.llm_model,
        api_key=config.llm_api_key,
        timeout_s=config.timeout_s,
        max_retries=config.max_retries,
    )


def _bundled(config: AssistantConfig) -> Provider:
    from assistant.bundled import BundledProvider

    return BundledProvider(cache_dir=config.model_dir, timeout_s=config.timeout_s)


PROVIDERS: dict[str, Callable[[AssistantConfig], Provider]] = {
    "off": _off,
    "openai": _openai,
    "bundled": _bundled,
}

_lock = threading.Lock()
_cache: dict[AssistantConfig, Provider] = {}


def get_provider(config: AssistantConfig | None = None) -> Provider:
    """The configured provider, built once per configuration (the bundled model loads lazily)."""
    config = config or assistant_config()
    factory = PROVIDERS.get(config.provider)
    if factory is None:
        raise ImproperlyConfigured(
            f"CBIR_ASSISTANT={config.provider!r}: use one of {', '.join(PROVIDERS)}."
        )
    with _lock:
        if config not in _cache:
            _cache[config] = factory(config)
        return _cache[config]


def provider_summary(config: AssistantConfig | None = None) -> dict[str, object]:
    """For the admin: which provider, which model, and whether query text leaves the machine."""
    from assistant.openai_provider import is_loopback_url

    config = config or assistant_config()
    remote = config.provider == "openai" and not is_loopback_url(config.llm_url)
    model = {"openai": config.llm_model, "bundled": "SmolLM2-135M-Instruct-Q4_1"}.get(
        config.provider, ""
    )
    return {
        "provider": config.provider,
        "model": model,
        "url": config.llm_url if config.provider == "openai" else "",
        "leaves_machine": remote,
    }
