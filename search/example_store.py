"""An uploaded example image, kept server-side for the browser session that sent it.

A search by an uploaded picture used to be lost on the next click: a link
cannot carry a file. The bytes now go to the cache under a random token for
CBIR_QUERY_EXAMPLE_TTL seconds, and the token travels in the search's links
(?example=...): "Edit search", the next pages, "more like this" and "Show best
matches" run with the same picture. Only the browser session that uploaded it
may use a token (the session lists its tokens), so a shared link never hands
one person's picture to another. A search session (feedback/) records its token.
"""

from __future__ import annotations

import secrets

from django.contrib.sessions.backends.base import SessionBase
from django.core.cache import cache

from search.config import search_config

SESSION_KEY = "cbir_query_examples"
MAX_KEPT = 5  # per browser session: the oldest goes first
TOKEN_BYTES = 16


def _key(token: str) -> str:
    return f"query-example:{token}"


def example_keep(*, session: SessionBase, data: bytes) -> str:
    """Keep an uploaded example; the token that names it."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    cache.set(_key(token), data, timeout=search_config().query_example_ttl)
    kept = [*session.get(SESSION_KEY, []), token]
    for old in kept[:-MAX_KEPT]:
        cache.delete(_key(old))
    session[SESSION_KEY] = kept[-MAX_KEPT:]
    return token


def example_owned(*, session: SessionBase, token: str) -> bool:
    return bool(token) and token in session.get(SESSION_KEY, [])


def example_load(*, session: SessionBase, token: str) -> bytes | None:
    """The kept bytes, or None: not this session's, or expired."""
    if not example_owned(session=session, token=token):
        return None
    return cache.get(_key(token))


def example_available(*, session: SessionBase, token: str) -> bool:
    return example_owned(session=session, token=token) and cache.has_key(_key(token))
