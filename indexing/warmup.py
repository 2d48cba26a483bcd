"""Load the encoder and build the index before the first request needs them.

gunicorn calls `warm_in_background` from post_worker_init in every worker
process (cbir_site/gunicorn_conf.py), so each process has its own warm model.
"""

from __future__ import annotations

import logging
import threading

from PIL import Image

from indexing.config import indexing_config

logger = logging.getLogger(__name__)


def warm() -> None:
    from indexing.index_sync import manager
    from indexing.runtime import get_encoder

    try:
        encoder = get_encoder()
        # One pass of each kind: the first call of a loaded model pays for lazy set-up
        # (tokenizer, thread pools, allocator), measured at 2-3x a later call.
        encoder.encode_texts(["warm-up"])
        side = encoder.image_size
        encoder.encode_images([Image.new("RGB", (side, side), (127, 127, 127))])
        manager.get(encoder.name)
    except Exception:
        # Searches will report the problem (with the setting to fix); do not kill the server.
        logger.exception("Warm-up failed")


def warm_in_background() -> threading.Thread | None:
    if not indexing_config().warm_on_start:
        return None
    thread = threading.Thread(target=warm, name="cbir-warmup", daemon=True)
    thread.start()
    return thread
