"""The Django side of the guarded image path: limits from settings, a per-process pixel gate.

galleries/imaging.py does the checking and decoding without Django; every
decode in the product (upload, search by example, the embedding worker,
import, evaluation) goes through `image_decode` or `image_limits` here, so
the same settings bound them all. The gate bounds the pixels decoded at once
by all threads of one process, and so its memory, whatever the number of
threads or callers.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from PIL.Image import Image as PILImage

from cbir_site.config import site_config
from cbir_site.errors import ServiceUnavailableError
from galleries.config import galleries_config
from galleries.imaging import ImageLimits, decode, read_header


def image_limits() -> ImageLimits:
    config = galleries_config()
    return ImageLimits(
        max_bytes=site_config().max_upload_bytes,
        max_pixels=config.max_image_pixels,
        allowed_formats=config.allowed_formats,
        min_side=config.min_image_side,
        max_side=config.max_image_side,
        max_aspect_ratio=config.max_aspect_ratio,
        max_frames=config.max_image_frames,
    )


def image_decode(data: bytes, *, min_side: int) -> PILImage:
    """The guarded decode inside this process's pixel gate (encoders, examples, import)."""
    limits = image_limits()
    header = read_header(data, limits)
    with decode_gate().hold(header.pixels, timeout=galleries_config().decode_wait_s):
        return decode(data, limits, min_side=min_side)


class DecodeGate:
    """A counting semaphore on decoded pixels, shared by the threads of one process."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.in_use = 0
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def hold(self, pixels: int, *, timeout: float) -> Iterator[None]:
        pixels = min(pixels, self.capacity)  # a single file always fits an empty gate
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.in_use + pixels > self.capacity:
                left = deadline - time.monotonic()
                timed_out = left <= 0 or not self._cond.wait(left)
                if timed_out and self.in_use + pixels > self.capacity:
                    raise ServiceUnavailableError(
                        "The server is busy decoding other images; try again shortly.",
                        extra={"retry_after": 5},
                    )
            self.in_use += pixels
        try:
            yield
        finally:
            with self._cond:
                self.in_use -= pixels
                self._cond.notify_all()


_gate: DecodeGate | None = None
_gate_lock = threading.Lock()


def decode_gate() -> DecodeGate:
    global _gate
    with _gate_lock:
        capacity = galleries_config().decode_pixels_per_process
        if _gate is None or _gate.capacity != capacity:
            _gate = DecodeGate(capacity)
        return _gate
