"""What one caller may make this server decode: slots, quotas and a per-process pixel gate.

A small PNG can expand to 80 megapixels, so uploads are metered in what they
cost (files and decoded pixels, read from headers before any decode), not in
requests:

- `upload_slot`: at most CBIR_UPLOAD_CONCURRENCY_PER_USER upload requests of
  one user run at once in each web process, so one user cannot occupy every
  web thread;
- `UploadBudget`: per request at most CBIR_MAX_PIXELS_PER_REQUEST decoded
  pixels, per user and minute at most CBIR_UPLOAD_FILES_PER_MINUTE files and
  CBIR_UPLOAD_PIXELS_PER_MINUTE pixels (counters in the shared cache);
- the per-process pixel gate is galleries/decoding.py's, shared with every
  other decode.

Counters live in the cache (Redis in production). When the cache is down
they fail open, as the request throttles do: availability over metering.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from django.core.cache import cache

from cbir_site.errors import RateLimitedError
from galleries.config import galleries_config

logger = logging.getLogger(__name__)

_WINDOW_S = 60


class BudgetExceeded(Exception):
    """One file does not fit the request's or the user's budget; the message says why."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


_slots: dict[int, int] = {}
_slots_lock = threading.Lock()


@contextlib.contextmanager
def upload_slot(user_id: int) -> Iterator[None]:
    """One of the user's upload slots in this process, for the length of a request.

    Counted in the process, not the shared cache: a web process killed mid-upload takes its
    slots with it, where a counter in Redis would lock the user out until it expired. Each
    process has a few threads, so N slots per process still keep one user from taking them all.
    """
    limit = galleries_config().upload_concurrency_per_user
    with _slots_lock:
        if _slots.get(user_id, 0) >= limit:
            raise RateLimitedError(
                f"You already have {limit} uploads in progress; wait for one to finish.",
                retry_after=5,
            )
        _slots[user_id] = _slots.get(user_id, 0) + 1
    try:
        yield
    finally:
        with _slots_lock:
            _slots[user_id] -= 1
            if not _slots[user_id]:
                del _slots[user_id]


@dataclass
class UploadBudget:
    """The request's pixel allowance and the user's per-minute quotas, charged per file."""

    user_id: int | None
    request_pixels_left: int

    @classmethod
    def for_request(cls, user_id: int | None) -> UploadBudget:
        return cls(user_id=user_id, request_pixels_left=galleries_config().max_pixels_per_request)

    def check_user_quota(self) -> None:
        """Before any work: a user who used up this minute's quota gets a 429 at once."""
        files, pixels = self._used()
        if (
            files >= galleries_config().upload_files_per_minute
            or pixels >= galleries_config().upload_pixels_per_minute
        ):
            raise RateLimitedError(self._quota_message(), retry_after=self._retry_after())

    def charge(self, pixels: int) -> None:
        if pixels > self.request_pixels_left:
            share = galleries_config().max_pixels_per_request
            raise BudgetExceeded(
                "request_pixel_budget",
                f"This request already decoded its share of pixels "
                f"({share:,}); send this file in another request.",
            )
        if self.user_id is not None:
            files, used = self._used()
            if (
                files + 1 > galleries_config().upload_files_per_minute
                or used + pixels > galleries_config().upload_pixels_per_minute
            ):
                raise BudgetExceeded("rate_limited", self._quota_message())
            window = self._window()
            _incr(f"cbir:upload-files:{self.user_id}:{window}", 1, 2 * _WINDOW_S)
            _incr(f"cbir:upload-pixels:{self.user_id}:{window}", pixels, 2 * _WINDOW_S)
        self.request_pixels_left -= pixels

    def _used(self) -> tuple[int, int]:
        if self.user_id is None:
            return 0, 0
        window = self._window()
        files = cache.get(f"cbir:upload-files:{self.user_id}:{window}") or 0
        pixels = cache.get(f"cbir:upload-pixels:{self.user_id}:{window}") or 0
        return int(files), int(pixels)

    @staticmethod
    def _window() -> int:
        return int(time.time() // _WINDOW_S)

    @staticmethod
    def _retry_after() -> int:
        return int(_WINDOW_S - time.time() % _WINDOW_S) + 1

    def _quota_message(self) -> str:
        return (
            f"Upload limit reached ({galleries_config().upload_files_per_minute:,} files or "
            f"{galleries_config().upload_pixels_per_minute / 1e6:,.0f} megapixels a minute); "
            f"try again in {self._retry_after()} s."
        )


def _incr(key: str, delta: int, ttl: int) -> int | None:
    """Atomic add on the shared cache; None when the cache is unavailable (fail open)."""
    try:
        cache.add(key, 0, ttl)
        value = cache.incr(key, delta)
        cache.touch(key, ttl)
        return int(value)
    except ValueError:  # expired between add and incr
        return None
    except Exception:  # the cache is down: metering fails open, uploads go on
        logger.warning("Upload metering unavailable (cache error)", exc_info=True)
        return None
