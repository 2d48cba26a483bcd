"""Suggestion requests: start one (the web side, never runs a model) and compute one (the worker).

A timeout, a provider error or output with nothing usable in it ends as
`failed` with a short message: the user keeps the original search. Answers
are cached in the Django cache per (provider, model, prompt, max_tokens).
"""

from __future__ import annotations

import logging
from dataclasses import asdict

from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import transaction

from assistant.core import (
    Completion,
    Prompt,
    ProviderError,
    Suggestions,
    cache_key,
    compose_prompt,
    parse_merged,
    parse_suggestions,
    rephrase_prompt,
)
from assistant.describe import image_describe
from assistant.models import AssistRequest
from assistant.providers import AssistantConfig, assistant_config, get_provider
from cbir_site import bounds
from cbir_site.config import site_config
from cbir_site.errors import InvalidInputError, NotFoundError
from galleries.selectors import images_visible_to

logger = logging.getLogger(__name__)

Status = AssistRequest.Status
NOTHING_USABLE = "The assistant had no usable suggestion; your search is unchanged."


def assist_request_start(
    *, user: AbstractBaseUser, text: str = "", image_id: int | None = None, k: int | None = None
) -> AssistRequest:
    config = assistant_config()
    if not config.enabled:
        # 404, not 503: nothing is down, the deployment has no assistant (CBIR_ASSISTANT=off).
        raise NotFoundError("The query assistant is off.", code="assistant_off")
    text = (text or "").strip()
    k = config.rephrasings if k is None else k
    bounds.ASSIST_K.check("k", k)
    if image_id is None and not text:
        raise InvalidInputError("Give a text to rephrase, or an image_id and words to merge.")
    if image_id is not None and not images_visible_to(user).filter(pk=image_id).exists():
        raise NotFoundError("No such image.")
    kind = AssistRequest.Kind.COMPOSE if image_id is not None else AssistRequest.Kind.REPHRASE
    row = AssistRequest.objects.create(
        user=user, kind=kind, text=text, image_id=image_id, k=k, provider=config.provider
    )
    if site_config().background_tasks:
        from assistant.tasks import assist_compute

        transaction.on_commit(lambda: assist_compute.delay(str(row.pk)))
    return row


def _prompt(row: AssistRequest) -> Prompt:
    if row.kind == AssistRequest.Kind.COMPOSE:
        visible = row.image_id is not None and (
            images_visible_to(row.user).filter(pk=row.image_id).exists()
        )
        description = image_describe(user=row.user, image_id=row.image_id) if visible else ""
        return compose_prompt(description=description or "a photo", words=row.text or "as is")
    return rephrase_prompt(query=row.text, k=row.k)


def _complete(config: AssistantConfig, prompt: Prompt) -> tuple[Completion, bool]:
    """The provider's answer, from the cache when the same prompt was asked before."""
    provider = get_provider(config)
    key = cache_key(
        provider=provider.name,
        model=provider.model_name,
        prompt=prompt,
        max_tokens=config.max_tokens,
    )
    stored = cache.get(key)
    if isinstance(stored, dict):
        return Completion(**stored), True
    completion = provider.complete(prompt, max_tokens=config.max_tokens)
    if config.cache_s:
        cache.set(key, asdict(completion), config.cache_s)
    return completion, False


def suggestions_for(row: AssistRequest, completion: Completion) -> Suggestions:
    if row.kind == AssistRequest.Kind.COMPOSE:
        return Suggestions(merged=parse_merged(completion.text))
    return parse_suggestions(completion.text, query=row.text, k=row.k)


def assist_compute(*, request_id: str) -> AssistRequest | None:
    """Run the provider for a pending request; safe to run twice (a finished row is kept)."""
    row = AssistRequest.objects.select_related("user").filter(pk=request_id).first()
    if row is None or row.status != Status.PENDING:
        return row
    config = assistant_config()
    try:
        prompt = _prompt(row)
        completion, cached = _complete(config, prompt)
    except ProviderError as exc:
        logger.warning("assistant request %s failed: %s", row.pk, exc)
        return _finish(row, status=Status.FAILED, message=str(exc)[:300])
    found = suggestions_for(row, completion)
    usable = bool(found.rephrasings or found.negatives or found.merged)
    provider = get_provider(config)
    return _finish(
        row,
        status=Status.READY if usable else Status.FAILED,
        message="" if usable else NOTHING_USABLE,
        rephrasings=found.rephrasings,
        negatives=found.negatives,
        merged=found.merged[:200],
        model_name=provider.model_name,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        seconds=round(completion.seconds, 3),
        cached=cached,
    )


def _finish(row: AssistRequest, **fields: object) -> AssistRequest:
    # Conditional: a second run of the same task never overwrites the first's answer.
    AssistRequest.objects.filter(pk=row.pk, status=Status.PENDING).update(**fields)
    row.refresh_from_db()
    return row
