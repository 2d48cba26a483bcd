"""What search announces to the apps above it.

- `model_pruned`: a retired model's rows are being deleted (`model_name`), inside
  the prune's transaction: apps that keep rows per model (feedback's refined
  vectors, explain's cached explanations) delete theirs.
"""

from __future__ import annotations

from django.dispatch import Signal

model_pruned = Signal()
