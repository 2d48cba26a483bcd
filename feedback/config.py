"""The feedback app's knobs: Rocchio, expansion admission, hot refinement (cbir_site/config.py).

The switches the index reads too (CBIR_EXPANSION, CBIR_EXPANSION_MAX_PER_IMAGE,
CBIR_HOT_REFINEMENT) are in indexing/config.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from cbir_site.config import build, config_builder, knob
from cbir_site.env import env_float, env_int


@dataclass(frozen=True)
class FeedbackConfig:
    # Relevance feedback: q' = alpha q + beta centroid(relevant) - gamma centroid(non-relevant).
    rocchio_alpha: float = knob("CBIR_ROCCHIO_ALPHA", env_float, 1.0, minimum=0, maximum=10)
    rocchio_beta: float = knob("CBIR_ROCCHIO_BETA", env_float, 0.75, minimum=0, maximum=10)
    rocchio_gamma: float = knob("CBIR_ROCCHIO_GAMMA", env_float, 0.15, minimum=0, maximum=10)
    # Collection expansion: query texts users confirmed for an image become extra search
    # vectors of that image, under these admission rules.
    expansion_min_support: float = knob("CBIR_EXPANSION_MIN_SUPPORT", env_float, 2.0, minimum=0)
    expansion_min_supporters: int = knob("CBIR_EXPANSION_MIN_SUPPORTERS", env_int, 2, minimum=1)
    expansion_half_life_days: float = knob(
        "CBIR_EXPANSION_HALF_LIFE_DAYS", env_float, 180.0, minimum=0
    )
    expansion_merge_cosine: float = knob(
        "CBIR_EXPANSION_MERGE_COSINE", env_float, 0.95, minimum=0, maximum=1
    )
    expansion_debounce_s: int = knob("CBIR_EXPANSION_DEBOUNCE_S", env_int, 60, minimum=0)
    # Hot-image refinement: move a much-confirmed image's search vector toward its queries.
    hot_min_confirmations: int = knob("CBIR_HOT_MIN_CONFIRMATIONS", env_int, 3, minimum=1)
    hot_beta: float = knob("CBIR_HOT_BETA", env_float, 0.5, minimum=0)
    hot_gamma: float = knob("CBIR_HOT_GAMMA", env_float, 0.25, minimum=0)
    hot_min_cosine: float = knob("CBIR_HOT_MIN_COSINE", env_float, 0.9, minimum=-1, maximum=1)


@config_builder
def feedback_config() -> FeedbackConfig:
    return build(FeedbackConfig)
