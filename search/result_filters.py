"""Filter and sort a search's results: by gallery, upload date, uploader and format.

A filter narrows a ranking the search already made (every match of a cutoff
search, the k best of a top-k one); it never widens what the user may see:
the images are looked up among those visible to the user, and the gallery
choices are the galleries visible to them, so an unknown and an invisible
gallery get the same answer. Without a sort the ranking's order is kept; a
sort orders by upload time or name, ties broken by the ranking.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import django_filters
from django import forms
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from cbir_site.errors import InvalidInputError
from galleries.config import galleries_config
from galleries.models import Gallery, Image
from galleries.selectors import galleries_visible_to, gallery_labels, images_visible_to

# The request parameters this module reads (links carry them, forms offer them).
# `file_format`, not `format`: DRF reads ?format= as the response format it should render.
FILTER_FIELDS = ("gallery", "uploaded_after", "uploaded_before", "uploader", "file_format", "sort")
BEST_MATCH = "Best match first"
SORT_CHOICES = (
    ("", BEST_MATCH),
    ("-uploaded", "Newest first"),
    ("uploaded", "Oldest first"),
    ("name", "Name (A to Z)"),
    ("-name", "Name (Z to A)"),
)
_DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def format_choices() -> list[tuple[str, str]]:
    return [(f, f) for f in galleries_config().allowed_formats]


class ResultFilter(django_filters.FilterSet):
    gallery = django_filters.ModelMultipleChoiceFilter(
        field_name="gallery__slug",
        to_field_name="slug",
        queryset=Gallery.objects.none(),  # the user's visible galleries, set per request
        label="Gallery",
        widget=forms.CheckboxSelectMultiple,
    )
    uploaded_after = django_filters.DateFilter(
        field_name="created_at", lookup_expr="date__gte", label="Uploaded from", widget=_DATE
    )
    uploaded_before = django_filters.DateFilter(
        field_name="created_at", lookup_expr="date__lte", label="Uploaded until", widget=_DATE
    )
    uploader = django_filters.CharFilter(
        field_name="uploaded_by__username", lookup_expr="iexact", label="Uploaded by"
    )
    file_format = django_filters.MultipleChoiceFilter(
        field_name="format",
        choices=format_choices,
        label="Format",
        widget=forms.CheckboxSelectMultiple,
    )
    sort = django_filters.OrderingFilter(
        fields=(("created_at", "uploaded"), ("original_filename", "name")),
        choices=SORT_CHOICES[1:],
        empty_label=BEST_MATCH,
        label="Sort",
    )

    class Meta:
        model = Image
        fields: list[str] = []

    def __init__(
        self,
        *args: Any,
        user: AbstractBaseUser | AnonymousUser,
        within: Sequence[int] | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        visible = galleries_visible_to(user).select_related("organisation").order_by("name")
        if within is not None:  # a session's page offers the galleries it searched
            visible = visible.filter(pk__in=list(within))
        self.filters["gallery"].queryset = visible
        self._visible = visible

    @property
    def form(self) -> forms.Form:
        form = super().form
        field = form.fields["gallery"]
        labels = gallery_labels(list(self._visible))
        field.label_from_instance = lambda gallery: labels.get(gallery.pk, gallery.name)
        return form


def filter_form(
    *,
    user: AbstractBaseUser | AnonymousUser,
    data: Mapping[str, Any] | None,
    within: Sequence[int] | None = None,
) -> forms.Form:
    """The filters as a form for a page (bound to the request's values, if any)."""
    bound = data if filters_given(data) else None
    return ResultFilter(bound, queryset=Image.objects.none(), user=user, within=within).form


def filters_given(data: Mapping[str, Any] | None) -> bool:
    """Whether the request asks for any filter or sort (empty values ask for nothing)."""
    if not data:
        return False
    getlist = getattr(data, "getlist", None)
    for name in FILTER_FIELDS:
        values = getlist(name) if getlist else data.get(name)
        if values is None:
            continue
        if not isinstance(values, list | tuple | set):
            values = [values]  # one value: a string, a number, a date from the serializer
        if any(v is not None and str(v).strip() for v in values):
            return True
    return False


def filter_pairs(data: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """The request's filter and sort values as (name, value) pairs, for links that keep them."""
    if not data:
        return []
    getlist = getattr(data, "getlist", None)
    pairs = []
    for name in FILTER_FIELDS:
        values = getlist(name) if getlist else data.get(name)
        if isinstance(values, str | int | float):
            values = [values]
        pairs += [(name, str(v)) for v in values or [] if str(v).strip()]
    return pairs


def ranking_narrow(
    *,
    user: AbstractBaseUser | AnonymousUser,
    ranked_ids: Sequence[int],
    data: Mapping[str, Any] | None,
) -> list[int]:
    """The ids of `ranked_ids` that pass the filters in `data`, in display order.

    Bad values raise InvalidInputError (a 400 under /api/, a form message on pages).
    """
    if not filters_given(data) or not ranked_ids:
        return list(ranked_ids)
    queryset = images_visible_to(user).filter(pk__in=list(ranked_ids))
    filterset = ResultFilter(data, queryset=queryset, user=user)
    if not filterset.is_valid():
        raise InvalidInputError(_describe(filterset.errors))
    return _ordered(filterset.qs, ranked_ids, sorted_=bool(filterset.form.cleaned_data["sort"]))


def _ordered(queryset: QuerySet[Image], ranked_ids: Sequence[int], *, sorted_: bool) -> list[int]:
    position = {image_id: n for n, image_id in enumerate(ranked_ids)}
    if not sorted_:
        return sorted(queryset.values_list("pk", flat=True), key=position.__getitem__)
    # The database sorted by the field; equal values (same second, same name) keep their rank.
    keys = list(queryset.query.order_by)
    rows = queryset.values_list("pk", *(k.lstrip("-") for k in keys))
    groups: dict[tuple, list[int]] = {}
    for pk, *values in rows:
        groups.setdefault(tuple(values), []).append(pk)
    return [pk for group in groups.values() for pk in sorted(group, key=position.__getitem__)]


def _describe(errors: Mapping[str, Any]) -> str:
    parts = [f"{name}: {' '.join(str(m) for m in messages)}" for name, messages in errors.items()]
    return "Check the result filters: " + "; ".join(parts)
