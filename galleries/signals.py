"""What the galleries announce, so that the apps above them (indexing, search) keep up.

Galleries are the bottom of the house: they import no app above them. Instead
they send these signals, and indexing and search connect their receivers in
their `AppConfig.ready()`. Receivers run synchronously, inside the sender's
transaction, so a change and its announcement commit (or roll back) together.

- `images_stored`: new image rows that need embedding (`image_ids`). Work is
  queued only once the transaction commits; the periodic sweep is the backstop.
- `images_removed`: image rows about to go, or whose vectors are dropped for a
  re-embedding (`image_ids`, `gallery_ids`): in-memory indexes must forget them
  and the galleries' statistics are due again.
"""

from __future__ import annotations

from django.dispatch import Signal

images_stored = Signal()
images_removed = Signal()
