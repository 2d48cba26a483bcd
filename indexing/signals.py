"""What indexing announces to the apps above it (search connects in its `ready()`).

- `embeddings_stored`: new vectors of `model_name` in `gallery_ids`, sent inside
  the transaction that stored them: their galleries' statistics are due again.
"""

from __future__ import annotations

from django.dispatch import Signal

embeddings_stored = Signal()
