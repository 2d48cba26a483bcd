"""The filters of a gallery's image list (the API's and the gallery page's ?status=)."""

from __future__ import annotations

import django_filters

from galleries.models import Image


class ImageFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Image.Status.choices)

    class Meta:
        model = Image
        fields: list[str] = []
