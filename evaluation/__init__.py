"""Retrieval-quality evaluation.

The pure parts (metrics, fit, ranking, datasets) import no Django. The
runner, loading and experiments do; `run_evaluation` and `EvaluationConfig`
are imported from the runner on first use, so `from evaluation import
metrics` keeps working before Django is set up.
"""

from __future__ import annotations

from typing import Any

_RUNNER_NAMES = {"run_evaluation", "EvaluationConfig", "EvaluationResult"}


def __getattr__(name: str) -> Any:
    if name in _RUNNER_NAMES:
        from evaluation import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'evaluation' has no attribute {name!r}")
