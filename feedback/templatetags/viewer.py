"""`{% viewer_item image as item %}`: what the viewer shows of one image (captions,
the galleries holding it), for pages of apps below feedback (an image's page)."""

from __future__ import annotations

from django import template

from feedback.viewer import viewer_items
from galleries.models import Image

register = template.Library()


@register.simple_tag(takes_context=True)
def viewer_item(context: template.Context, image: Image) -> dict[str, object]:
    return viewer_items(context["request"].user, [image])[str(image.pk)]
