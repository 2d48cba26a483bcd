"""Load the encoder and build the index before the first request needs them."""

from __future__ import annotations

import logging
import threading

from django.conf import settings

logger = logging.getLogger(__name__)


def warm() -> None:
    from search.index_sync import manager
    from search.runtime import get_encoder

    try:
        encoder = get_encoder()
        manager.get(encoder.name)
    except Exception:
        # Searches will report the problem (with the setting to fix); do not kill the server.
        logger.exception("Warm-up failed")


def warm_in_background() -> threading.Thread | None:
    if not settings.CBIR_WARM_ON_START:
        return None
    thread = threading.Thread(target=warm, name="cbir-warmup", daemon=True)
    thread.start()
    return thread
