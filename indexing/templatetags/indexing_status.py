"""`{% gallery_indexing_status gallery as status %}`: a gallery page's indexing progress.

A tag, so that the gallery pages (galleries/) show indexing's state without
the galleries app importing indexing.
"""

from __future__ import annotations

from typing import Any

from django import template

from galleries.models import Gallery
from indexing.selectors import gallery_indexing_status as _status

register = template.Library()


@register.simple_tag
def gallery_indexing_status(gallery: Gallery) -> dict[str, Any]:
    return _status(gallery)
