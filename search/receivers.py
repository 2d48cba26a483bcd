"""Search's answers to what galleries and indexing announce (connected in `SearchConfig.ready()`).

A gallery's neighbour statistic (m_g, and through it M and every gallery's
threshold) is due again when its images change: new vectors (indexing), or
images removed (galleries). The recomputation is debounced and runs in the
background (statistics.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from indexing.runtime import active_model_name
from search.statistics import gallery_statistics_schedule

logger = logging.getLogger(__name__)


def on_embeddings_stored(
    sender: object, *, gallery_ids: Sequence[int], model_name: str, **_: object
) -> None:
    gallery_statistics_schedule(gallery_ids=list(gallery_ids), model_name=model_name)


def on_images_removed(sender: object, *, gallery_ids: Sequence[int], **_: object) -> None:
    try:
        model_name = active_model_name()
    except Exception:
        # No encoder configured: nothing is searchable, nothing to refresh.
        logger.warning("No active model: gallery statistics not scheduled", exc_info=True)
        return
    gallery_statistics_schedule(gallery_ids=list(gallery_ids), model_name=model_name)
