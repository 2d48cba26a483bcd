"""The explain app's knobs: occlusion's cost per explanation, the cache (cbir_site/config.py)."""

from __future__ import annotations

from dataclasses import dataclass

from cbir_site.config import build, config_builder, knob
from cbir_site.env import env_float, env_int


@dataclass(frozen=True)
class ExplainConfig:
    max_passes: int = knob("CBIR_EXPLAIN_MAX_PASSES", env_int, 64, minimum=2, maximum=4096)
    time_budget_s: float = knob(
        "CBIR_EXPLAIN_TIME_BUDGET_S", env_float, 10.0, minimum=0.1, maximum=600.0
    )
    grid: int = knob("CBIR_EXPLAIN_GRID", env_int, 7, minimum=1, maximum=32)
    cache_size: int = knob(
        "CBIR_EXPLAIN_CACHE_SIZE", env_int, 10_000, minimum=1, maximum=10_000_000
    )


@config_builder
def explain_config() -> ExplainConfig:
    return build(ExplainConfig)
