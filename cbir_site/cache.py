"""Django's Redis cache, failing open: a Redis outage must not fail requests or tasks.

The cache only holds throttle counters and debounce marks. Django's own
RedisCache raises on a refused connection, so while Redis restarts every
throttled API request answered 500 and an embedding batch that reached its
statistics debounce (`cache.add`) failed, marking its images failed for good.
Here a Redis error is logged (at most once per `_LOG_EVERY_S`) and the call
answers as a cache miss: throttles let requests through, `add` reports that
nothing was added (the periodic statistics refresh catches up).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

_LOG_EVERY_S = 30.0
_last_logged = 0.0
_log_lock = threading.Lock()


def _fail_open(fallback: Callable[..., Any]) -> Callable:
    def wrap(method: Callable) -> Callable:
        @functools.wraps(method)
        def call(self: RedisCache, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except RedisError as exc:
                _log(method.__name__, exc)
                return fallback(*args, **kwargs)

        return call

    return wrap


def _log(operation: str, exc: Exception) -> None:
    global _last_logged
    with _log_lock:
        now = time.monotonic()
        if now - _last_logged < _LOG_EVERY_S:
            return
        _last_logged = now
    logger.warning("Cache unavailable (%s answered as a miss): %s", operation, exc)


class FailOpenRedisCache(RedisCache):
    add = _fail_open(lambda *a, **k: False)(RedisCache.add)
    get = _fail_open(lambda key, default=None, *a, **k: default)(RedisCache.get)
    set = _fail_open(lambda *a, **k: None)(RedisCache.set)
    touch = _fail_open(lambda *a, **k: False)(RedisCache.touch)
    delete = _fail_open(lambda *a, **k: False)(RedisCache.delete)
    get_many = _fail_open(lambda *a, **k: {})(RedisCache.get_many)
    has_key = _fail_open(lambda *a, **k: False)(RedisCache.has_key)
    set_many = _fail_open(lambda data, *a, **k: list(data))(RedisCache.set_many)
    delete_many = _fail_open(lambda *a, **k: None)(RedisCache.delete_many)
    clear = _fail_open(lambda *a, **k: False)(RedisCache.clear)
